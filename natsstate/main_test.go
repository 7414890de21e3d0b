package natsstate

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left running
// after them: the NATS client's and the embedded server's included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
