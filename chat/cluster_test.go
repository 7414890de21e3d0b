package chat_test

import (
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
)

// Hubs sharing one MemoryLog and one MemoryStateStore (with a
// MemoryOwnerIndex) in one process, as nodes share NATS.
func TestCluster(t *testing.T) {
	chattest.TestCluster(t, func(_ *testing.T, n int) ([]chat.Log, []chat.StateStore) {
		l := chat.NewMemoryLog(100)
		s := struct {
			*chat.MemoryStateStore
			*chat.MemoryOwnerIndex
		}{chat.NewMemoryStateStore(), chat.NewMemoryOwnerIndex()}
		logs, states := make([]chat.Log, n), make([]chat.StateStore, n)
		for i := range n {
			logs[i], states[i] = l, s
		}
		return logs, states
	})
}
