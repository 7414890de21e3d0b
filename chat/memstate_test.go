package chat_test

import (
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
)

// One MemoryStateStore serves every "node": it is a single node's store.
func TestMemoryStateStore(t *testing.T) {
	chattest.TestStateStore(t, func(_ *testing.T, n int) []chat.StateStore {
		s := chat.NewMemoryStateStore()
		nodes := make([]chat.StateStore, n)
		for i := range nodes {
			nodes[i] = s
		}
		return nodes
	})
}
