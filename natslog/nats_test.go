package natslog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

// appendAll appends n records with client ids prefix-0… to room, each
// after the room's newest as Bounds tells it, retrying on conflicts as the
// Hub does; an empty room starts at id 1.
func appendAll(l *Log, room, prefix string, member uint64, n int) error {
	for i := range n {
		r := chat.Record{Member: member, CID: fmt.Sprintf("%s-%d", prefix, i), Sealed: []byte("sealed")}
		for {
			_, newest, _, err := l.Bounds(room)
			if err != nil {
				return err
			}
			r.ID = newest + 1
			_, _, err = l.Append(room, newest, r)
			if err == nil {
				break
			}
			if !errors.Is(err, chat.ErrConflict) {
				return err
			}
		}
	}
	return nil
}

// watchInto runs l.Watch in a goroutine, sending each record to the
// returned channel; stop ends it and returns Watch's error.
func watchInto(l *Log, room string, after uint64) (recs <-chan chat.Record, done <-chan error, stop context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan chat.Record, 10000)
	errc := make(chan error, 1)
	go func() {
		errc <- l.Watch(ctx, room, after, func(r chat.Record) error {
			out <- r
			return nil
		})
	}()
	return out, errc, cancel
}

func receive(t *testing.T, recs <-chan chat.Record, n int) []chat.Record {
	t.Helper()
	var out []chat.Record
	for range n {
		select {
		case r := <-recs:
			out = append(out, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("Watch delivered %d records, then nothing for 10 s", len(out))
		}
	}
	return out
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return within 10 s")
		return nil
	}
}

func recIDs(recs []chat.Record) []uint64 {
	out := []uint64{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func span(from, to uint64) []uint64 {
	out := []uint64{}
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

// Two Logs on two connections, as two servers would have, append to one
// room at once: one run of ids, each record once, and a watcher on one
// connection sees the other's records.
func TestTwoConnectionsOneRoom(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	a := newLog(t, natstest.Connect(t, s), 1000, Memory)
	b := newLog(t, natstest.Connect(t, s), 1000, Memory)
	const room, each = "hot room", 100
	watched, done, stop := watchInto(b, room, 0)

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, l := range []*Log{a, b} {
		wg.Go(func() { errs <- appendAll(l, room, fmt.Sprint("w", i), uint64(i), each) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	recs, err := a.Read(room, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(span(1, 2*each), recIDs(recs)); diff != "" {
		t.Errorf("ids read (-want +got):\n%s", diff)
	}
	perWriter := map[uint64][]string{}
	for _, r := range recs {
		perWriter[r.Member] = append(perWriter[r.Member], r.CID)
	}
	for w := range uint64(2) {
		want := []string{}
		for i := range each {
			want = append(want, fmt.Sprintf("w%d-%d", w, i))
		}
		if diff := cmp.Diff(want, perWriter[w]); diff != "" {
			t.Errorf("writer %d's records, in id order (-want +got):\n%s", w, diff)
		}
	}

	got := receive(t, watched, 2*each)
	if diff := cmp.Diff(recIDs(recs), recIDs(got)); diff != "" {
		t.Errorf("the watcher on connection b (-read +watched):\n%s", diff)
	}
	if members := slices.Compact(slices.Sorted(slices.Values(memberList(got)))); !slices.Equal(members, []uint64{0, 1}) {
		t.Errorf("the watcher saw records of members %v, want both writers'", members)
	}
	stop()
	if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch after its context ended: %v", err)
	}
}

func memberList(recs []chat.Record) []uint64 {
	out := []uint64{}
	for _, r := range recs {
		out = append(out, r.Member)
	}
	return out
}

// Two writers on two connections race to append the first record of many
// empty rooms: an expected last subject sequence of 0 means "no message on
// this subject", so exactly one wins each room.
func TestEmptyRoomRace(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	logs := []*Log{newLog(t, natstest.Connect(t, s), 10, Memory), newLog(t, natstest.Connect(t, s), 10, Memory)}
	const rooms = 20
	for i := range rooms {
		room := fmt.Sprint("race ", i)
		start := make(chan struct{})
		results := make(chan error, len(logs))
		var wg sync.WaitGroup
		for w, l := range logs {
			wg.Go(func() {
				<-start
				_, appended, err := l.Append(room, 0, chat.Record{ID: 1, Member: uint64(w), Sealed: []byte("first")})
				if err == nil && !appended {
					err = errors.New("not appended, no error")
				}
				results <- err
			})
		}
		close(start)
		wg.Wait()
		close(results)
		won, lost := 0, 0
		for err := range results {
			switch {
			case err == nil:
				won++
			case errors.Is(err, chat.ErrConflict):
				lost++
			default:
				t.Fatalf("%s: %v", room, err)
			}
		}
		if won != 1 || lost != 1 {
			t.Errorf("%s: %d appends won and %d lost, want 1 and 1", room, won, lost)
		}
		if recs, err := logs[0].Read(room, 0, 0); err != nil || len(recs) != 1 {
			t.Errorf("%s holds %d records (%v), want 1", room, len(recs), err)
		}
	}
}

// A client id dedupes against records another connection appended: when
// this Log builds its index, when it catches up, and not once retention
// dropped the original.
func TestClientIDsAcrossConnections(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	a := newLog(t, natstest.Connect(t, s), 3, Memory)
	b := newLog(t, natstest.Connect(t, s), 3, Memory)
	const room = "ids"
	steps := []struct {
		name         string
		log          *Log
		expect       uint64
		cid          string
		wantID       uint64
		wantAppended bool
	}{
		{"a appends m:1", a, 0, "m:1", 1, true},
		{"b builds its index and finds m:1", b, 1, "m:1", 1, false},
		{"a appends m:2", a, 1, "m:2", 2, true},
		{"b catches up and finds m:2", b, 2, "m:2", 2, false},
		{"b appends m:3", b, 2, "m:3", 3, true},
		{"a catches up and finds m:3", a, 3, "m:3", 3, false},
		{"a appends m:4, dropping m:1", a, 3, "m:4", 4, true},
		{"b appends m:1 again", b, 4, "m:1", 5, true},
		{"a finds the new m:1", a, 5, "m:1", 5, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, appended, err := st.log.Append(room, st.expect, chat.Record{ID: st.expect + 1, Member: 1, CID: st.cid, Sealed: []byte(st.cid)})
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != st.wantID || appended != st.wantAppended || got.CID != st.cid {
				t.Errorf("Append = id %d %q, appended %v; want id %d %q, appended %v", got.ID, got.CID, appended, st.wantID, st.cid, st.wantAppended)
			}
		})
	}
}

// A purge (Drop) delivers nothing to a watcher, which must still reset:
// whether it began at the newest record or had records delivered.
func TestDropWhileWatching(t *testing.T) {
	for _, tc := range []struct {
		name      string
		after     uint64
		delivered int
	}{
		{"watching from the newest", 3, 0},
		{"after delivering the room", 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := natstest.Start(t, t.TempDir(), -1)
			a := newLog(t, natstest.Connect(t, s), 100, Memory)
			b := newLog(t, natstest.Connect(t, s), 100, Memory)
			if err := appendAll(a, "room", "m", 1, 3); err != nil {
				t.Fatal(err)
			}
			placed := make(chan string, 1)
			b.placed = func(room string) { placed <- room }
			recs, done, stop := watchInto(b, "room", tc.after)
			defer stop()
			if got := recIDs(receive(t, recs, tc.delivered)); !slices.Equal(got, span(tc.after+1, 3)) {
				t.Fatalf("delivered %v before the drop", got)
			}
			// A Watch that began after the drop would find an empty room
			// and wait for its next life, as in memory: drop once it has
			// its place.
			<-placed
			if err := a.Drop("room", 3); err != nil {
				t.Fatal(err)
			}
			if err := waitErr(t, done); !errors.Is(err, chat.ErrTruncated) {
				t.Errorf("Watch across a drop: %v, want chat.ErrTruncated", err)
			}
		})
	}
}

// A NATS server with memory storage that restarts forgets the stream: a
// watcher resets rather than waiting at a place that no longer exists, and
// the next append makes the stream again, the room empty.
func TestRestartWithMemoryStorage(t *testing.T) {
	dir := t.TempDir()
	s := natstest.Start(t, dir, -1)
	port := s.Addr().(*net.TCPAddr).Port
	a := newLog(t, natstest.Connect(t, s), 100, Memory)
	b := newLog(t, natstest.Connect(t, s), 100, Memory)
	if err := appendAll(a, "room", "m", 1, 5); err != nil {
		t.Fatal(err)
	}
	recs, done, stop := watchInto(b, "room", 0)
	defer stop()
	if got := recIDs(receive(t, recs, 5)); !slices.Equal(got, span(1, 5)) {
		t.Fatalf("delivered %v before the restart", got)
	}

	s.Shutdown()
	s.WaitForShutdown()
	natstest.Start(t, dir, port)

	if err := waitErr(t, done); !errors.Is(err, chat.ErrTruncated) {
		t.Errorf("Watch across a restart with memory storage: %v, want chat.ErrTruncated", err)
	}
	// The connection is back once Bounds answers; the room is empty.
	if _, _, ok, err := a.Bounds("room"); err != nil || ok {
		t.Errorf("Bounds after the restart: ok %v, %v; want an empty room", ok, err)
	}
	if _, ok, err := a.Append("room", 5, chat.Record{ID: 6, Member: 1, Sealed: []byte("after")}); err != nil || !ok {
		t.Fatalf("Append after the restart: %v, %v", ok, err)
	}
	recs, done, stop = watchInto(b, "room", 5)
	defer stop()
	if got := recIDs(receive(t, recs, 1)); !slices.Equal(got, []uint64{6}) {
		t.Errorf("a watcher after 5 on the new stream got %v, want [6]", got)
	}
	stop()
	if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch after its context ended: %v", err)
	}
}

// Room names with characters that mean something in a subject are rooms
// like any other, and never appear on the wire: only their tokens do.
func TestRoomNamesNeverOnTheWire(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, s)
	l := newLog(t, nc, 10, Memory)
	names := []string{"dots.in.name", "star*", "gt>", "with space", "tab\there", "ünïcödé", "a.*.>"}
	want := []string{}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			if err := appendAll(l, name, "m", uint64(i), i+1); err != nil {
				t.Fatal(err)
			}
			recs, err := l.Read(name, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(span(1, uint64(i+1)), recIDs(recs)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
		want = append(want, DefaultPrefix+".room."+natstest.Token(name))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for subj := range info.State.Subjects {
		got = append(got, subj)
		for _, name := range names {
			if strings.Contains(subj, name) {
				t.Errorf("subject %s holds the room name %q", subj, name)
			}
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the stream's subjects (-want +got):\n%s", diff)
	}
}

// A RoomToken that gives something other than one subject token is an
// error of each call, never a subject with other meaning.
func TestBadRoomToken(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, s)
	for _, tok := range []string{"", "a.b", "a*", ">", "a b"} {
		t.Run(fmt.Sprintf("%q", tok), func(t *testing.T) {
			l, err := New(context.Background(), Config{Conn: nc, RoomToken: func(string) string { return tok }})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = l.Append("room", 0, chat.Record{ID: 1, Sealed: []byte("x")})
			if err == nil || !strings.Contains(err.Error(), "not a subject token") {
				t.Errorf("Append with token %q: %v, want an error about the token", tok, err)
			}
		})
	}
}

// A stream of the same name that cannot match the config is a clear error
// at New; one whose limits differ is updated to the config's.
func TestStreamConfig(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, s)
	newLog(t, nc, 10, File)
	_, err := New(context.Background(), Config{Conn: nc, RoomToken: natstest.Token, Storage: Memory})
	if err == nil || !strings.Contains(err.Error(), "stream CLOAKROOM (storage Memory") {
		t.Errorf("New with memory storage over a file stream: %v, want an error naming the stream and its config", err)
	}
	newLog(t, nc, 20, File)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxMsgsPerSubject; got != 20 {
		t.Errorf("MaxMsgsPerSubject after New with History 20: %d", got)
	}
}

// A watcher whose connection is closed under it returns an error, and
// leaves nothing running.
func TestWatchConnectionClosed(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, s)
	l := newLog(t, nc, 10, Memory)
	if err := appendAll(l, "room", "m", 1, 2); err != nil {
		t.Fatal(err)
	}
	recs, done, stop := watchInto(l, "room", 0)
	defer stop()
	receive(t, recs, 2)
	nc.Close()
	err := waitErr(t, done)
	t.Logf("Watch returned %v", err)
	if err == nil || errors.Is(err, chat.ErrTruncated) {
		t.Errorf("Watch on a closed connection: %v, want an error other than ErrTruncated", err)
	}
}

// New refuses a config it cannot keep its promises with, before any
// stream is made.
func TestNewRejects(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, s)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no RoomToken", Config{Conn: nc}, "RoomToken is required"},
		{"no connection", Config{RoomToken: natstest.Token}, "Conn is required"},
		{"a wildcard in the prefix", Config{Conn: nc, RoomToken: natstest.Token, Prefix: "chat.*"}, "not a subject without wildcards"},
		{"an empty token in the prefix", Config{Conn: nc, RoomToken: natstest.Token, Prefix: "chat..rooms"}, "not a subject without wildcards"},
		{"an unknown storage", Config{Conn: nc, RoomToken: natstest.Token, Storage: 7}, "neither Memory nor File"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(context.Background(), DefaultStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("after refused configs the stream lookup = %v, want ErrStreamNotFound", err)
	}
}

// A server's answer to a batch stops at a byte limit: reads and client id
// indexes go on from where it stopped.
func TestBatchesCutByBytes(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	a := newLog(t, natstest.Connect(t, s), 100, Memory)
	b := newLog(t, natstest.Connect(t, s), 100, Memory)
	b.batchBytes = 200 // a few records per answer
	if err := appendAll(a, "room", "m", 1, 40); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		after         uint64
		limit         int
		from, through uint64
	}{
		{"all", 0, 0, 1, 40},
		{"after 7", 7, 0, 8, 40},
		{"after 7, 25 of them", 7, 25, 8, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := b.Read("room", tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(span(tc.from, tc.through), recIDs(recs)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	// b's first append with a client id reads the whole room into its index.
	got, appended, err := b.Append("room", 40, chat.Record{ID: 41, Member: 1, CID: "m-3", Sealed: []byte("again")})
	if err != nil || appended || got.ID != 4 {
		t.Errorf("appending m-3 again = id %d, appended %v, %v; want record 4, not appended", got.ID, appended, err)
	}
}

// waitConsumers waits until l's stream has n consumers.
func waitConsumers(t *testing.T, l *Log, n int) {
	t.Helper()
	st, err := l.js.Stream(context.Background(), l.cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Consumers == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream has %d consumers after 10 s, want %d", info.State.Consumers, n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not ordering
	}
}

// A caller's own JetStream handle, stream name and subject prefix make a
// log of their own beside the default one on the same server.
func TestOwnStreamAndPrefix(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	own, err := New(context.Background(), Config{JetStream: js, Stream: "OTHER", Prefix: "acme.chat", History: 5, RoomToken: natstest.Token})
	if err != nil {
		t.Fatal(err)
	}
	def := newLog(t, nc, 5, Memory)
	if err := appendAll(own, "room", "own", 1, 3); err != nil {
		t.Fatal(err)
	}
	if err := appendAll(def, "room", "def", 2, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		log     *Log
		members []uint64
	}{
		{"own", own, []uint64{1, 1, 1}},
		{"default", def, []uint64{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := tc.log.Read("room", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.members, memberList(recs)); diff != "" {
				t.Errorf("members of the records read (-want +got):\n%s", diff)
			}
		})
	}
	st, err := js.Stream(context.Background(), "OTHER")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.Subjects; !slices.Equal(got, []string{"acme.chat.room.*"}) {
		t.Errorf("OTHER's subjects: %v", got)
	}
}

// A Log with a smaller History than the stream's (a node started with
// another --history) must not shrink the stream: that would cut every
// room's history for every node. A larger History raises it.
func TestSmallerHistoryDoesNotCutTheStream(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	l := newLog(t, natstest.Connect(t, srv), 20, Memory)
	if err := appendAll(l, "lobby", "a", 1, 12); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Config{Conn: natstest.Connect(t, srv), History: 5, RoomToken: natstest.Token}); err == nil {
		t.Error("New with History 5 on a stream that keeps 20 per room: no error")
	}
	recs, err := l.Read("lobby", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(span(1, 12), recIDs(recs)); diff != "" {
		t.Errorf("the room after a Log with a smaller History started (-want +got):\n%s", diff)
	}
	bigger := newLog(t, natstest.Connect(t, srv), 30, Memory)
	if err := appendAll(bigger, "lobby", "b", 1, 20); err != nil {
		t.Fatal(err)
	}
	recs, err = l.Read("lobby", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(span(3, 32), recIDs(recs)); diff != "" { // 30 kept
		t.Errorf("the room after a Log with a larger History appended (-want +got):\n%s", diff)
	}
}
