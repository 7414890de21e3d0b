package natslog

import (
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
)

func TestLogConformance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		storage Storage
	}{
		{"memory", Memory},
		{"file", File},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chattest.TestLog(t, func(t *testing.T, keep int) chat.Log { return serverLog(t, keep, tc.storage) })
		})
	}
}
