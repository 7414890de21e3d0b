package chat_test

import (
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
)

// Hubs sharing one MemoryLog and one MemoryStateStore in one process, as
// nodes share NATS.
func TestCluster(t *testing.T) {
	chattest.TestCluster(t, func(_ *testing.T, n int) ([]chat.Log, []chat.StateStore) {
		l, s := chat.NewMemoryLog(100), chat.NewMemoryStateStore()
		logs, states := make([]chat.Log, n), make([]chat.StateStore, n)
		for i := range n {
			logs[i], states[i] = l, s
		}
		return logs, states
	})
}
