package chat_test

import (
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
)

func TestMemoryOwnerIndex(t *testing.T) {
	chattest.TestOwnerIndex(t, func(_ *testing.T, n int) []chat.OwnerIndex {
		ix := chat.NewMemoryOwnerIndex()
		nodes := make([]chat.OwnerIndex, n)
		for i := range nodes {
			nodes[i] = ix
		}
		return nodes
	})
}
