package natsstate

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServer starts a nats-server with JetStream in this process, its
// store in dir, on port (-1 for a random one) of the loopback, and shuts it
// down when the test ends.
func startServer(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready after 10 s")
	}
	return s
}

// connect returns a connection to s that reconnects for ever, as a
// server's would, closed when the test ends.
func connect(t *testing.T, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// token is the tests' RoomToken: an HMAC of the name under a fixed key, as
// main will use one under the master key.
func token(room string) string {
	m := hmac.New(sha256.New, []byte("natsstate test key"))
	m.Write([]byte(room))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

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

func newStore(t *testing.T, nc *nats.Conn, box *crypto.Box, storage Storage) *Store {
	t.Helper()
	s, err := New(context.Background(), Config{
		Conn:      nc,
		Storage:   storage,
		RoomToken: token,
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
		storage Storage
	}{
		{"memory", Memory},
		{"file", File},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chattest.TestStateStore(t, func(t *testing.T, n int) []chat.StateStore {
				srv := startServer(t, t.TempDir(), -1)
				box := newBox(t)
				nodes := make([]chat.StateStore, n)
				for i := range nodes {
					nodes[i] = newStore(t, connect(t, srv), box, tc.storage)
				}
				return nodes
			})
		})
	}
}

// The bucket holds tokens and sealed bytes: no room name, member name or
// owner, and a state copied to another room's key does not open there.
func TestSealedInTheBucket(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	nc := connect(t, srv)
	s := newStore(t, nc, newBox(t), Memory)
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
	if diff := cmp.Diff([]string{"room." + token(room)}, keys); diff != "" {
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
	if _, err := kv.Put(ctx, "room."+token("other"), e.Value()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load("other"); err == nil {
		t.Error("a state copied from another room's key opened")
	}
}

func TestConfig(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	nc := connect(t, srv)
	id := func(_ string, b []byte) ([]byte, error) { return b, nil }
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no connection", Config{RoomToken: token, Seal: id, Open: id}},
		{"no token", Config{Conn: nc, Seal: id, Open: id}},
		{"no seal", Config{Conn: nc, RoomToken: token, Open: id}},
		{"unknown storage", Config{Conn: nc, RoomToken: token, Seal: id, Open: id, Storage: 7}},
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
	srv := startServer(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	s := newStore(t, connect(t, srv), newBox(t), Memory)
	seatAlice := func(st *chat.RoomState) error {
		_, err := st.Seat("o", "alice", chat.Digest{}, time.Now(), chat.StateLimits{MaxMembers: 2, MaxOwnNames: 2})
		return err
	}
	if _, _, err := chat.UpdateState(s, "room", seatAlice); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	startServer(t, dir, port)

	// Wait for the client to reconnect: until then Load fails.
	var (
		st  chat.RoomState
		rev chat.Revision
		err error
	)
	deadline := time.Now().Add(10 * time.Second)
	for st, rev, err = s.Load("room"); err != nil && time.Now().Before(deadline); st, rev, err = s.Load("room") {
		if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrConnectionReconnecting) {
			break
		}
	}
	if err != nil || rev != 0 || len(st.Members) != 0 {
		t.Fatalf("Load after the restart = %d members, revision %d, %v; want none, 0, nil", len(st.Members), rev, err)
	}
	if _, _, err := chat.UpdateState(s, "room", seatAlice); err != nil {
		t.Errorf("seating alice again after the restart: %v", err)
	}
}
