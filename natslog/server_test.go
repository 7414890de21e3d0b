package natslog

import (
	"context"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/nats-io/nats.go"
)

// newLog returns a Log on nc, keeping keep records per room, with a
// WatchCheck short enough for tests.
func newLog(t testing.TB, nc *nats.Conn, keep int, storage Storage) *Log {
	t.Helper()
	l, err := New(context.Background(), Config{
		Conn:       nc,
		History:    keep,
		Storage:    storage,
		RoomToken:  natstest.Token,
		WatchCheck: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// server starts a server and returns a Log on a connection to it.
func serverLog(t testing.TB, keep int, storage Storage) chat.Log {
	t.Helper()
	s := natstest.Start(t, t.TempDir(), -1)
	return newLog(t, natstest.Connect(t, s), keep, storage)
}
