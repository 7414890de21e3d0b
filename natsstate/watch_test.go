package natsstate

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

type seen struct {
	st  chat.RoomState
	rev chat.Revision
}

// watchInto watches room on s into a channel until stop, which returns
// Watch's error.
func watchInto(s *Store, room string) (<-chan seen, func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan seen, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(ctx, room, func(st chat.RoomState, rev chat.Revision) error {
			ch <- seen{st, rev}
			return nil
		})
	}()
	return ch, func() error { cancel(); return <-done }
}

// next returns the next state ch delivers, failing the test after a while.
func next(t *testing.T, ch <-chan seen, what string) seen {
	t.Helper()
	select {
	case w := <-ch:
		return w
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
		return seen{}
	}
}

func seatAs(owner, name string) func(*chat.RoomState) error {
	return func(st *chat.RoomState) error {
		_, err := st.Seat(owner, name, chat.Digest{}, time.Now(), chat.StateLimits{MaxMembers: 9, MaxOwnNames: 9})
		return err
	}
}

// An operator's purge of a room's key reaches watchers as the zero state.
func TestWatchPurge(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, srv)
	s := newStore(t, nc, newBox(t), natslog.Memory)
	if _, _, err := chat.UpdateState(s, "room", seatAs("o", "alice")); err != nil {
		t.Fatal(err)
	}
	ch, stop := watchInto(s, "room")
	if w := next(t, ch, "first state"); w.rev == 0 || len(w.st.Members) != 1 {
		t.Fatalf("first state: revision %d, %d members", w.rev, len(w.st.Members))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(context.Background(), "room."+natstest.Token("room")); err != nil {
		t.Fatal(err)
	}
	if w := next(t, ch, "state after the purge"); w.rev != 0 || w.st.Live() {
		t.Errorf("after the purge: revision %d, live %v; want 0, false", w.rev, w.st.Live())
	}
	// The room can be made again at revision 0.
	if _, _, err := chat.UpdateState(s, "room", seatAs("o", "alice")); err != nil {
		t.Fatal(err)
	}
	if w := next(t, ch, "state after making it again"); w.rev == 0 || len(w.st.Members) != 1 {
		t.Errorf("made again: revision %d, %d members", w.rev, len(w.st.Members))
	}
	if err := stop(); err != context.Canceled {
		t.Errorf("Watch after its context ended: %v", err)
	}
}

// A watcher across a NATS restart with memory storage does not wait for
// ever on the lost bucket: it sees the state the room begins again with.
func TestWatchAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.Start(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	box := newBox(t)
	a := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	b := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	if _, _, err := chat.UpdateState(a, "room", seatAs("o", "alice")); err != nil {
		t.Fatal(err)
	}
	ch, stop := watchInto(b, "room")
	next(t, ch, "first state")
	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.Start(t, dir, port)

	// Until the client has reconnected, updates fail.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := chat.UpdateState(a, "room", seatAs("o", "bob"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seating bob after the restart: %v", err)
		}
	}
	for {
		w := next(t, ch, "the new state after the restart")
		if len(w.st.Members) == 1 && w.st.Members[0].Name == "bob" {
			break
		}
		if w.rev != 0 {
			t.Fatalf("after the restart: revision %d with %d members; want the zero state or bob alone", w.rev, len(w.st.Members))
		}
	}
	if err := stop(); err != context.Canceled {
		t.Errorf("Watch after its context ended: %v", err)
	}
}
