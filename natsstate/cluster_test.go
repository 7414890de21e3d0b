package natsstate

import (
	"context"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natslog/natstest"
)

// Hubs on two nodes, each with its own connection to one embedded NATS
// server, sharing the room's log (natslog) and state (this package), behave
// as one chat.
func TestCluster(t *testing.T) {
	chattest.TestCluster(t, func(t *testing.T, n int) ([]chat.Log, []chat.StateStore) {
		srv := natstest.Start(t, t.TempDir(), -1)
		box := newBox(t) // seals the states; the hubs seal events with their own
		logs, states := make([]chat.Log, n), make([]chat.StateStore, n)
		for i := range n {
			nc := natstest.Connect(t, srv)
			l, err := natslog.New(context.Background(), natslog.Config{
				Conn: nc, History: 100, RoomToken: natstest.Token, WatchCheck: 20 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			logs[i], states[i] = l, newStore(t, nc, box, natslog.Memory)
		}
		return logs, states
	})
}
