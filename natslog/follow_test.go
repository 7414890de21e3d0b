package natslog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/google/go-cmp/cmp"
)

// roomWatch is one room's Watch in a test.
type roomWatch struct {
	room string
	recs <-chan chat.Record
	done <-chan error
	stop context.CancelFunc
}

// watchRooms watches each of rooms on l from after 0, and waits until
// every Watch has read what its room keeps.
func watchRooms(t *testing.T, l *Log, rooms []string) []roomWatch {
	t.Helper()
	placed := make(chan string, len(rooms))
	l.placed = func(room string) { placed <- room }
	out := make([]roomWatch, len(rooms))
	for i, room := range rooms {
		recs, done, stop := watchInto(l, room, 0)
		out[i] = roomWatch{room, recs, done, stop}
		t.Cleanup(stop)
	}
	for range rooms {
		select {
		case <-placed:
		case <-time.After(10 * time.Second):
			t.Fatal("the Watches did not all start within 10 s")
		}
	}
	return out
}

func roomNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("room ", i)
	}
	return out
}

// A Log watching many rooms costs the server one consumer, whichever rooms
// the records are appended to, and none once the last Watch ends.
func TestOneConsumerForManyRooms(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	a := newLog(t, natstest.Connect(t, s), 100, Memory)
	b := newLog(t, natstest.Connect(t, s), 100, Memory)
	rooms := roomNames(20)
	for _, room := range rooms[:10] { // half the rooms have records already
		if err := appendAll(a, room, "before", 1, 2); err != nil {
			t.Fatal(err)
		}
	}
	watches := watchRooms(t, b, rooms)
	waitConsumers(t, b, 1)
	if got := b.Stats().Watchers; got != len(rooms) {
		t.Errorf("Stats().Watchers = %d, want %d", got, len(rooms))
	}
	for _, room := range rooms {
		if err := appendAll(a, room, "after", 2, 3); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range watches {
		want := span(1, 3)
		if i < 10 {
			want = span(1, 5)
		}
		if diff := cmp.Diff(want, recIDs(receive(t, w.recs, len(want)))); diff != "" {
			t.Errorf("%s: ids watched (-want +got):\n%s", w.room, diff)
		}
	}
	waitConsumers(t, b, 1)
	for _, w := range watches {
		w.stop()
		if err := waitErr(t, w.done); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Watch after its context ended: %v", w.room, err)
		}
	}
	waitConsumers(t, b, 0)
	if got := b.Stats().Watchers; got != 0 {
		t.Errorf("Stats().Watchers after every Watch ended = %d, want 0", got)
	}
}

// A Watch whose fn is stuck does not hold up another room's: its queue
// overflows, and once fn goes on it reads what it missed from the stream,
// every record once and in order.
func TestSlowWatcherDoesNotStallOthers(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	a := newLog(t, natstest.Connect(t, s), 1000, Memory)
	l, err := New(context.Background(), Config{
		Conn: natstest.Connect(t, s), History: 1000, RoomToken: natstest.Token,
		WatchCheck: 20 * time.Millisecond, WatchQueue: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	placed := make(chan string, 2)
	l.placed = func(room string) { placed <- room }

	release := make(chan struct{})
	slow := make(chan uint64, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slowDone := make(chan error, 1)
	go func() {
		slowDone <- l.Watch(ctx, "slow", 0, func(r chat.Record) error {
			<-release
			slow <- r.ID
			return nil
		})
	}()
	fast, fastDone, stopFast := watchInto(l, "fast", 0)
	defer stopFast()
	<-placed
	<-placed

	const n = 50
	if err := appendAll(a, "slow", "m", 1, n); err != nil {
		t.Fatal(err)
	}
	if err := appendAll(a, "fast", "m", 1, n); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(span(1, n), recIDs(receive(t, fast, n))); diff != "" {
		t.Errorf("the fast room's ids while the slow one's fn is stuck (-want +got):\n%s", diff)
	}
	close(release)
	got := []uint64{}
	for range n {
		select {
		case id := <-slow:
			got = append(got, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("the slow room delivered %v, then nothing for 10 s", got)
		}
	}
	if diff := cmp.Diff(span(1, n), got); diff != "" {
		t.Errorf("the slow room's ids (-want +got):\n%s", diff)
	}
	if st := l.Stats(); st.WatchOverflows == 0 || st.WatchCatchUps == 0 {
		t.Errorf("Stats() = %+v, want an overflow and a catch-up", st)
	}
	cancel()
	if err := waitErr(t, slowDone); !errors.Is(err, context.Canceled) {
		t.Errorf("the slow Watch after its context ended: %v", err)
	}
	stopFast()
	if err := waitErr(t, fastDone); !errors.Is(err, context.Canceled) {
		t.Errorf("the fast Watch after its context ended: %v", err)
	}
}

// A record handed over after a gap (the place expects an older id) makes
// the place read the missing ones by direct get first; what the room no
// longer keeps is a reset.
func TestGapFilled(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	l := newLog(t, natstest.Connect(t, s), 10, Memory)
	if err := appendAll(l, "room", "m", 1, 8); err != nil {
		t.Fatal(err)
	}
	recs, err := l.Read("room", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	head, _, err := l.last(context.Background(), l.cfg.Prefix+".room."+natstest.Token("room"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		next    uint64 // the place's next id
		want    []uint64
		wantErr error
	}{
		{"from 3, given 8", 3, span(3, 8), nil},
		{"from 7, given 8", 7, span(7, 8), nil},
		{"no gap", 8, span(8, 8), nil},
		{"past the newest", 12, []uint64{}, chat.ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := []uint64{}
			p := place{l: l, subj: l.cfg.Prefix + ".room." + natstest.Token("room"), next: tc.next,
				fn: func(r chat.Record) error { got = append(got, r.ID); return nil }}
			err := p.take(context.Background(), item{stored: stored{seq: head.seq, rec: recs[7]}})
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("take = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ids passed on (-want +got):\n%s", diff)
			}
		})
	}
	// Retention dropped 1 and 2: a place that expects 2 resets.
	if err := appendAll(l, "room", "more", 1, 4); err != nil {
		t.Fatal(err)
	}
	p := place{l: l, subj: l.cfg.Prefix + ".room." + natstest.Token("room"), next: 2,
		fn: func(chat.Record) error { return nil }}
	if err := p.take(context.Background(), item{stored: stored{seq: head.seq + 4, rec: chat.Record{ID: 12}}}); !errors.Is(err, chat.ErrTruncated) {
		t.Errorf("a gap from 2 when 3…12 are kept: %v, want chat.ErrTruncated", err)
	}
}

// A NATS restart with memory storage resets every watcher of the Log that
// had passed records on, at once, without an append to tell it; the
// stream is made again, appends work and new Watches follow them.
func TestRestartResetsEveryWatcher(t *testing.T) {
	dir := t.TempDir()
	s := natstest.Start(t, dir, -1)
	port := s.Addr().(*net.TCPAddr).Port
	a := newLog(t, natstest.Connect(t, s), 100, Memory)
	b := newLog(t, natstest.Connect(t, s), 100, Memory)
	rooms := roomNames(5)
	for _, room := range rooms {
		if err := appendAll(a, room, "m", 1, 3); err != nil {
			t.Fatal(err)
		}
	}
	watches := watchRooms(t, b, rooms)
	for _, w := range watches {
		receive(t, w.recs, 3)
	}
	// A watcher of an empty room has nothing to lose: it stays, and keeps
	// the follower that serves the new stream.
	quiet := watchRooms(t, b, []string{"quiet"})[0]

	s.Shutdown()
	s.WaitForShutdown()
	natstest.Start(t, dir, port)

	var wg sync.WaitGroup
	for _, w := range watches {
		wg.Go(func() {
			if err := waitErr(t, w.done); !errors.Is(err, chat.ErrTruncated) {
				t.Errorf("%s: Watch across a restart with memory storage: %v, want chat.ErrTruncated", w.room, err)
			}
		})
	}
	wg.Wait()
	if got := b.Stats().FollowResets; got == 0 {
		t.Errorf("Stats().FollowResets after a restart = %d, want at least 1", got)
	}
	for _, room := range rooms {
		if _, ok, err := a.Append(room, 3, chat.Record{ID: 4, Member: 1, Sealed: []byte("after")}); err != nil || !ok {
			t.Fatalf("%s: Append after the restart: %v, %v", room, ok, err)
		}
	}
	again := watchRooms(t, b, rooms)
	for _, room := range rooms {
		if _, ok, err := a.Append(room, 4, chat.Record{ID: 5, Member: 1, Sealed: []byte("later")}); err != nil || !ok {
			t.Fatalf("%s: second Append after the restart: %v, %v", room, ok, err)
		}
	}
	if _, ok, err := a.Append("quiet", 0, chat.Record{ID: 1, Member: 1, Sealed: []byte("first")}); err != nil || !ok {
		t.Fatalf("quiet: Append after the restart: %v, %v", ok, err)
	}
	if diff := cmp.Diff([]uint64{1}, recIDs(receive(t, quiet.recs, 1))); diff != "" {
		t.Errorf("the quiet room's watcher across the restart (-want +got):\n%s", diff)
	}
	for _, w := range again {
		if diff := cmp.Diff(span(4, 5), recIDs(receive(t, w.recs, 2))); diff != "" {
			t.Errorf("%s: a new Watch after the restart (-want +got):\n%s", w.room, diff)
		}
		w.stop()
		if err := waitErr(t, w.done); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Watch after its context ended: %v", w.room, err)
		}
	}
}

// Appends refused because another writer got there first are counted.
func TestStatsAppendConflicts(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	a := newLog(t, natstest.Connect(t, s), 10, Memory)
	b := newLog(t, natstest.Connect(t, s), 10, Memory)
	if _, _, err := a.Append("room", 0, chat.Record{ID: 1, Sealed: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := b.Append("room", 0, chat.Record{ID: 1, Sealed: []byte("b")}); !errors.Is(err, chat.ErrConflict) {
			t.Fatalf("b's append after a's: %v, want chat.ErrConflict", err)
		}
	}
	if got := []uint64{a.Stats().AppendConflicts, b.Stats().AppendConflicts}; !cmp.Equal(got, []uint64{0, 2}) {
		t.Errorf("AppendConflicts of a and b = %v, want [0 2]", got)
	}
}
