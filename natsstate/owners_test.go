package natsstate

import (
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natslog/natstest"
)

func TestOwnerIndexConformance(t *testing.T) {
	chattest.TestOwnerIndex(t, func(t *testing.T, n int) []chat.OwnerIndex {
		srv := natstest.Start(t, t.TempDir(), -1)
		box := newBox(t)
		nodes := make([]chat.OwnerIndex, n)
		for i := range nodes {
			nodes[i] = newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
		}
		return nodes
	})
}
