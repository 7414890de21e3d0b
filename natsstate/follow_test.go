package natsstate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/google/go-cmp/cmp"
)

// bucketConsumers waits until the bucket's stream has n consumers.
func bucketConsumers(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := s.stream.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Consumers == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bucket's stream has %d consumers after 10 s, want %d", info.State.Consumers, n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not ordering
	}
}

// members returns the names of st's members.
func members(st chat.RoomState) []string {
	out := []string{}
	for _, m := range st.Members {
		out = append(out, m.Name)
	}
	return out
}

// awaitMembers waits until ch passes a state whose members are want.
func awaitMembers(t *testing.T, ch <-chan seen, what string, want []string) {
	t.Helper()
	for {
		w := next(t, ch, what)
		if cmp.Equal(members(w.st), want) {
			return
		}
	}
}

// A Store watching many rooms costs the server one consumer, and none once
// the last Watch ends; each watcher sees its own room's changes only.
func TestOneKeyWatcherForManyRooms(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	box := newBox(t)
	a := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	b := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	const rooms = 20
	chans, stops := make([]<-chan seen, rooms), make([]func() error, rooms)
	for i := range rooms {
		chans[i], stops[i] = watchInto(b, fmt.Sprint("room ", i))
		if w := next(t, chans[i], "the first state"); w.rev != 0 {
			t.Fatalf("room %d's first state at revision %d, want 0", i, w.rev)
		}
	}
	bucketConsumers(t, b, 1)
	if got := b.Stats().Watchers; got != rooms {
		t.Errorf("Stats().Watchers = %d, want %d", got, rooms)
	}
	for i := range rooms {
		if _, _, err := chat.UpdateState(a, fmt.Sprint("room ", i), seatAs("o", fmt.Sprint("member", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range rooms {
		w := next(t, chans[i], "the seated state")
		if diff := cmp.Diff([]string{fmt.Sprint("member", i)}, members(w.st)); diff != "" {
			t.Errorf("room %d's members (-want +got):\n%s", i, diff)
		}
	}
	for i, stop := range stops {
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("room %d: Watch after its context ended: %v", i, err)
		}
	}
	bucketConsumers(t, b, 0)
	if got := b.Stats().Watchers; got != 0 {
		t.Errorf("Stats().Watchers after every Watch ended = %d, want 0", got)
	}
}

// A Watch whose fn is stuck does not hold up another room's; once it goes
// on, it is passed the newest state.
func TestSlowStateWatcher(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	box := newBox(t)
	a := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	b := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	release := make(chan struct{})
	slow := make(chan seen, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slowDone := make(chan error, 1)
	first := true
	go func() {
		slowDone <- b.Watch(ctx, "slow", func(st chat.RoomState, rev chat.Revision) error {
			if !first {
				<-release
			}
			first = false
			slow <- seen{st, rev}
			return nil
		})
	}()
	next(t, slow, "the slow room's first state")
	fast, stopFast := watchInto(b, "fast")
	next(t, fast, "the fast room's first state")

	const n = 300 // more than the key watcher's own buffer of 256
	for i := uint64(1); i <= n; i++ {
		if _, _, err := chat.UpdateState(a, "slow", newest(i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if _, _, err := chat.UpdateState(a, "fast", newest(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	awaitNewest(t, fast, "the fast room's last state", n)
	close(release)
	awaitNewest(t, slow, "the slow room's last state", n)
	cancel()
	if err := <-slowDone; !errors.Is(err, context.Canceled) {
		t.Errorf("the slow Watch after its context ended: %v", err)
	}
	if err := stopFast(); !errors.Is(err, context.Canceled) {
		t.Errorf("the fast Watch after its context ended: %v", err)
	}
}

// A NATS restart with memory storage reaches every watcher of the Store,
// without a write to tell it: each is passed the zero state, and later
// states of the rooms made again.
func TestRestartReachesEveryWatcher(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.Start(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	box := newBox(t)
	a := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	b := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	const rooms = 5
	chans := make([]<-chan seen, rooms)
	for i := range rooms {
		room := fmt.Sprint("room ", i)
		if _, _, err := chat.UpdateState(a, room, seatAs("o", "alice")); err != nil {
			t.Fatal(err)
		}
		var stop func() error
		chans[i], stop = watchInto(b, room)
		defer stop()
		next(t, chans[i], "the first state")
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.Start(t, dir, port)

	for i := range rooms {
		if w := next(t, chans[i], "the state after the restart"); w.rev != 0 || w.st.Live() {
			t.Errorf("room %d after the restart: revision %d, live %v; want the zero state", i, w.rev, w.st.Live())
		}
	}
	if got := b.Stats().FollowResets; got == 0 {
		t.Errorf("Stats().FollowResets after a restart = %d, want at least 1", got)
	}
	for i := range rooms {
		// Until a's connection is back, its updates fail at once.
		_, _, err := chat.UpdateState(a, fmt.Sprint("room ", i), seatAs("o", "bob"))
		for deadline := time.Now().Add(10 * time.Second); errors.Is(err, chat.ErrUnavailable) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			_, _, err = chat.UpdateState(a, fmt.Sprint("room ", i), seatAs("o", "bob"))
		}
		if err != nil {
			t.Fatal(err)
		}
		awaitMembers(t, chans[i], "bob's state", []string{"bob"})
	}
}

// Updates that lost their compare-and-set are counted.
func TestStatsUpdateConflicts(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	s := newStore(t, natstest.Connect(t, srv), newBox(t), natslog.Memory)
	var st chat.RoomState
	if err := seatAs("o", "alice")(&st); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("room", 0, st); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("room", 0, st); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("a second create: %v, want chat.ErrConflict", err)
	}
	if _, err := s.Delete("room", 7); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("a delete at a stale revision: %v, want chat.ErrConflict", err)
	}
	if got := s.Stats().UpdateConflicts; got != 2 {
		t.Errorf("Stats().UpdateConflicts = %d, want 2", got)
	}
}

// newest sets a state's Newest: a change as cheap as any.
func newest(id uint64) func(*chat.RoomState) error {
	return func(st *chat.RoomState) error {
		st.Newest = id
		return nil
	}
}

// awaitNewest waits until ch passes a state whose Newest is id, and fails
// if one comes with a Newest going back.
func awaitNewest(t *testing.T, ch <-chan seen, what string, id uint64) {
	t.Helper()
	var last uint64
	for last != id {
		w := next(t, ch, what)
		if w.st.Newest < last {
			t.Fatalf("%s: Newest %d after %d", what, w.st.Newest, last)
		}
		last = w.st.Newest
	}
}
