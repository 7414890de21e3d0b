package natsstate

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// stateAD binds a sealed state to being a state, so it is never taken for
// an event record of the same room.
var stateAD = []byte("cloakroom room state")

// newBox returns a real crypto.Box under a fresh key.
func newBox(t *testing.T) *crypto.Box {
	t.Helper()
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func newStore(t *testing.T, nc *nats.Conn, box *crypto.Box, storage natslog.Storage) *Store {
	t.Helper()
	s, err := New(context.Background(), Config{
		Conn:      nc,
		Storage:   storage,
		RoomToken: natstest.Token,
		Seal:      func(room string, p []byte) ([]byte, error) { return box.Seal(room, p, stateAD) },
		Open:      func(room string, c []byte) ([]byte, error) { return box.Open(room, c, stateAD) },
		// Short, so that a watcher notices a restart quickly.
		WatchCheck: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStateStoreConformance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		storage natslog.Storage
	}{
		{"memory", natslog.Memory},
		{"file", natslog.File},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chattest.TestStateStore(t, func(t *testing.T, n int) []chat.StateStore {
				srv := natstest.Start(t, t.TempDir(), -1)
				box := newBox(t)
				nodes := make([]chat.StateStore, n)
				for i := range nodes {
					nodes[i] = newStore(t, natstest.Connect(t, srv), box, tc.storage)
				}
				return nodes
			})
		})
	}
}

// The bucket holds tokens and sealed bytes: no room name, member name or
// owner, and a state copied to another room's key does not open there.
func TestSealedInTheBucket(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, srv)
	s := newStore(t, nc, newBox(t), natslog.Memory)
	const room = "secret.room"
	if _, _, err := chat.UpdateState(s, room, func(st *chat.RoomState) error {
		_, err := st.Seat("owner-hmac", "Mallory", chat.Digest{}, time.Now(), chat.StateLimits{MaxMembers: 2, MaxOwnNames: 2})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"room." + natstest.Token(room)}, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	e, err := kv.Get(ctx, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{room, "Mallory", "mallory", "owner-hmac", "members"} {
		if bytes.Contains(e.Value(), []byte(clear)) {
			t.Errorf("the stored value holds %q in the clear", clear)
		}
	}
	// Another room's key with this room's value: Load refuses it.
	if _, err := kv.Put(ctx, "room."+natstest.Token("other"), e.Value()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load("other"); err == nil {
		t.Error("a state copied from another room's key opened")
	}
}

func TestConfig(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, srv)
	id := func(_ string, b []byte) ([]byte, error) { return b, nil }
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no connection", Config{RoomToken: natstest.Token, Seal: id, Open: id}},
		{"no token", Config{Conn: nc, Seal: id, Open: id}},
		{"no seal", Config{Conn: nc, RoomToken: natstest.Token, Open: id}},
		{"unknown storage", Config{Conn: nc, RoomToken: natstest.Token, Seal: id, Open: id, Storage: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(context.Background(), tc.cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	s, err := New(context.Background(), Config{Conn: nc, RoomToken: func(string) string { return "a.b" }, Seal: id, Open: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load("room"); err == nil {
		t.Error("Load with a token holding '.' worked")
	}
}

// A NATS server with memory storage that restarts forgets every state: the
// next Load makes the bucket again and finds the room without one, and a
// node can seat its members again.
func TestRestartWithMemoryStorage(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.Start(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	s := newStore(t, natstest.Connect(t, srv), newBox(t), natslog.Memory)
	seatAlice := func(st *chat.RoomState) error {
		_, err := st.Seat("o", "alice", chat.Digest{}, time.Now(), chat.StateLimits{MaxMembers: 2, MaxOwnNames: 2})
		return err
	}
	if _, _, err := chat.UpdateState(s, "room", seatAlice); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.Start(t, dir, port)

	// Wait for the client to reconnect: until then Load fails.
	var (
		st  chat.RoomState
		rev chat.Revision
		err error
	)
	deadline := time.Now().Add(10 * time.Second)
	for st, rev, err = s.Load("room"); err != nil && time.Now().Before(deadline); st, rev, err = s.Load("room") {
		if !errors.Is(err, chat.ErrUnavailable) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || rev != 0 || len(st.Members) != 0 {
		t.Fatalf("Load after the restart = %d members, revision %d, %v; want none, 0, nil", len(st.Members), rev, err)
	}
	if _, _, err := chat.UpdateState(s, "room", seatAlice); err != nil {
		t.Errorf("seating alice again after the restart: %v", err)
	}
}
