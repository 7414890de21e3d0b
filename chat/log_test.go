package chat_test

import (
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
)

func TestMemoryLog(t *testing.T) {
	chattest.TestLog(t, func(_ *testing.T, keep int) chat.Log { return chat.NewMemoryLog(keep) })
}
