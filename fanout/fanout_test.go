package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// conn is a Conn that keeps what is written. Writes wait while the gate is
// closed (a reader that has stopped reading); Abort opens it and fails every
// write from then on. unacked, when set, is what Unacked reports.
type conn struct {
	mu      sync.Mutex
	writes  [][][]byte // each WriteBuffers call's buffers
	gate    chan struct{}
	open    bool
	aborted chan struct{}
	unacked func() (int64, bool)
	wrote   chan struct{} // gets a value after each write; capacity 1000
}

func newConn(open bool) *conn {
	c := &conn{gate: make(chan struct{}), aborted: make(chan struct{}), wrote: make(chan struct{}, 1000)}
	if open {
		c.let()
	}
	return c
}

func (c *conn) let() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.open {
		c.open = true
		close(c.gate)
	}
}

func (c *conn) WriteBuffers(bufs [][]byte) (int64, error) {
	select {
	case <-c.gate:
	case <-c.aborted:
	}
	select {
	case <-c.aborted:
		return 0, errors.New("aborted")
	default:
	}
	c.mu.Lock()
	c.writes = append(c.writes, append([][]byte(nil), bufs...)) // the reader reuses bufs
	c.mu.Unlock()
	c.wrote <- struct{}{}
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	return n, nil
}

func (c *conn) Abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.aborted:
	default:
		close(c.aborted)
	}
}

func (c *conn) Unacked() (int64, bool) {
	if c.unacked == nil {
		return 0, false
	}
	return c.unacked()
}

// ids returns the id of every frame written, in order (frames are
// recognised by their first line).
func (c *conn) ids() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []uint64
	for _, w := range c.writes {
		for _, b := range w {
			line, _, _ := strings.Cut(string(b), "\n")
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					panic(err)
				}
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func (c *conn) waitWrites(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-c.wrote:
		case <-time.After(10 * time.Second):
			t.Fatal("no write")
		}
	}
}

// serve runs r.Serve in a goroutine; the returned function waits for it.
func serve(r *Reader, last uint64) (wait func() error) {
	done := make(chan error, 1)
	go func() { done <- r.Serve(context.Background(), last) }()
	return func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("Serve did not return")
		}
	}
}

func frames(from, to uint64) []*Frame {
	var out []*Frame
	for id := from; id <= to; id++ {
		out = append(out, NewFrame(id, "", fmt.Appendf(nil, "event %d", id)))
	}
	return out
}

// Every reader gets every frame in order, and the bytes it is written are
// the frame's own: nothing is copied per reader.
func TestEveryReaderGetsTheSameBytes(t *testing.T) {
	h := New(Config{Coalesce: -1})
	const readers = 5
	var conns []*conn
	var waits []func() error
	var rds []*Reader
	for range readers {
		c := newConn(true)
		r, err := h.Subscribe("room", c)
		if err != nil {
			t.Fatal(err)
		}
		conns, rds = append(conns, c), append(rds, r)
		waits = append(waits, serve(r, 0))
	}
	fs := frames(1, 20)
	for _, f := range fs {
		h.Publish("room", f)
		h.Publish("other", NewFrame(99, "", []byte("nobody reads this")))
	}
	want := make([]uint64, 20)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	for i, c := range conns {
		waitFor(t, func() bool { return len(c.ids()) == 20 })
		if diff := cmp.Diff(want, c.ids()); diff != "" {
			t.Errorf("reader %d (-want +got):\n%s", i, diff)
		}
		c.mu.Lock()
		for _, w := range c.writes {
			for _, b := range w {
				if !sharesBytes(b, fs) {
					t.Errorf("reader %d was written a copy of %q", i, b)
				}
			}
		}
		c.mu.Unlock()
	}
	for i, r := range rds {
		r.Close()
		if err := waits[i](); !errors.Is(err, ErrGone) {
			t.Errorf("Serve after Close: %v", err)
		}
	}
	if h.Has("room") || h.Readers() != 0 {
		t.Error("the topic outlived its readers")
	}
}

func sharesBytes(b []byte, fs []*Frame) bool {
	for _, f := range fs {
		if len(b) > 0 && unsafe.SliceData(b) == unsafe.SliceData(f.Data) && len(b) == len(f.Data) {
			return true
		}
	}
	return false
}

// A reader busy writing finds what was published meanwhile and writes it
// all in one write.
func TestBehindReaderCatchesUpInOneWrite(t *testing.T) {
	h := New(Config{Coalesce: -1})
	c := newConn(false)
	r, err := h.Subscribe("room", c)
	if err != nil {
		t.Fatal(err)
	}
	wait := serve(r, 0)
	fs := frames(1, 10)
	h.Publish("room", fs[0])
	// The reader takes frame 1 and waits on the gate; what follows piles up.
	waitWriting(t, r)
	for _, f := range fs[1:] {
		h.Publish("room", f)
	}
	c.let()
	c.waitWrites(t, 2)
	c.mu.Lock()
	sizes := []int{len(c.writes[0]), len(c.writes[1])}
	c.mu.Unlock()
	if diff := cmp.Diff([]int{1, 9}, sizes); diff != "" {
		t.Errorf("frames per write (-want +got):\n%s", diff)
	}
	r.Close()
	_ = wait()
}

// Frames a reader was already sent (from a backlog) are skipped, and so is
// a member list older than them; one at the same id is not.
func TestServeSkipsWhatWasSent(t *testing.T) {
	h := New(Config{Coalesce: -1})
	c := newConn(true)
	r, err := h.Subscribe("room", c)
	if err != nil {
		t.Fatal(err)
	}
	wait := serve(r, 5)
	for _, f := range []*Frame{
		NewFrame(4, "", []byte("old")),
		NewFrame(4, "members", []byte("older list")),
		NewFrame(5, "", []byte("sent")),
		NewFrame(5, "members", []byte("list")),
		NewFrame(6, "", []byte("new")),
	} {
		h.Publish("room", f)
	}
	waitFor(t, func() bool { return len(c.ids()) == 2 })
	r.Close()
	_ = wait()
	var got []string
	c.mu.Lock()
	for _, w := range c.writes {
		for _, b := range w {
			got = append(got, string(b))
		}
	}
	c.mu.Unlock()
	want := []string{"id: 5\ndata: list\nevent: members\n\n", "id: 6\ndata: new\n\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
}

// A reader stuck in a write is cut off once its oldest unsent frame is
// older than MaxLag: the write is aborted at once, and what it was written
// is a gap-free prefix. The others go on.
func TestStuckReaderIsCutOff(t *testing.T) {
	h := New(Config{Coalesce: -1, MaxLag: 100 * time.Millisecond, Check: 10 * time.Millisecond})
	stuck, ok := newConn(false), newConn(true)
	rs, _ := h.Subscribe("room", stuck)
	ro, _ := h.Subscribe("room", ok)
	waitStuck, waitOK := serve(rs, 0), serve(ro, 0)
	for _, f := range frames(1, 50) {
		h.Publish("room", f)
	}
	if err := waitStuck(); !errors.Is(err, ErrBehind) {
		t.Fatalf("stuck reader ended with %v, want ErrBehind", err)
	}
	select {
	case <-stuck.aborted:
	default:
		t.Error("the stuck reader's connection was not aborted")
	}
	if ids := stuck.ids(); len(ids) != 0 {
		t.Errorf("the stuck reader was written %v", ids)
	}
	waitFor(t, func() bool { return len(ok.ids()) == 50 })
	rs.Close()
	ro.Close()
	_ = waitOK()
}

// Bytes written but not taken by the peer count as unsent: a reader whose
// writes all return, but whose host never acknowledges them, is cut off;
// one whose bytes are all acknowledged is not.
func TestUnacknowledgedBytesCountAsLag(t *testing.T) {
	h := New(Config{Coalesce: -1, MaxLag: 100 * time.Millisecond, Check: 10 * time.Millisecond})
	var mu sync.Mutex
	var written int64
	deaf := newConn(true)
	deaf.unacked = func() (int64, bool) { mu.Lock(); defer mu.Unlock(); return written, true }
	fine := newConn(true)
	fine.unacked = func() (int64, bool) { return 0, true }
	rd, _ := h.Subscribe("room", deaf)
	rf, _ := h.Subscribe("room", fine)
	waitDeaf, waitFine := serve(rd, 0), serve(rf, 0)
	for _, f := range frames(1, 3) {
		mu.Lock()
		written += int64(len(f.Data))
		mu.Unlock()
		h.Publish("room", f)
		time.Sleep(time.Millisecond) // separate writes
	}
	if err := waitDeaf(); !errors.Is(err, ErrBehind) {
		t.Fatalf("reader whose bytes were never acknowledged ended with %v", err)
	}
	// The other one's lag is measured all that time and stays zero.
	time.Sleep(300 * time.Millisecond)
	if err := rf.Err(); err != nil {
		t.Fatalf("a reader that had taken everything was cut off: %v", err)
	}
	rd.Close()
	rf.Close()
	_ = waitFine()
}

// The ring keeps at most RingFrames frames: a reader that has not taken a
// frame the ring dropped is cut off, having been written a gap-free prefix.
func TestRingOverflowCutsTheReader(t *testing.T) {
	h := New(Config{Coalesce: -1, RingFrames: 8, MaxLag: time.Hour})
	c := newConn(false)
	r, _ := h.Subscribe("room", c)
	wait := serve(r, 0)
	h.Publish("room", frames(1, 1)[0])
	waitWriting(t, r)
	for _, f := range frames(2, 20) {
		h.Publish("room", f)
	}
	c.let()
	if err := wait(); !errors.Is(err, ErrBehind) {
		t.Fatalf("Serve: %v, want ErrBehind", err)
	}
	if diff := cmp.Diff([]uint64{1}, c.ids()); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	r.Close()
}

// The window between wake-ups grows with the readers, up to Coalesce at
// 1000: a topic costs at most about 1000/Coalesce writes per second.
func TestCoalesceWindowGrowsWithReaders(t *testing.T) {
	for _, tc := range []struct {
		coalesce time.Duration
		readers  int
		want     time.Duration
	}{
		{40 * time.Millisecond, 1, 40 * time.Microsecond},
		{40 * time.Millisecond, 200, 8 * time.Millisecond},
		{40 * time.Millisecond, 1000, 40 * time.Millisecond},
		{40 * time.Millisecond, 5000, 40 * time.Millisecond},
		{-1, 5000, 0},
	} {
		h := New(Config{Coalesce: tc.coalesce})
		tp := &topic{hub: h, readers: make(map[*Reader]struct{})}
		for range tc.readers {
			tp.readers[&Reader{}] = struct{}{}
		}
		if got := tp.window(); got != tc.want {
			t.Errorf("Coalesce %v, %d readers: window %v, want %v", tc.coalesce, tc.readers, got, tc.want)
		}
	}
}

// A busy topic's readers are woken once per window: frames published
// within it go out together.
func TestCoalescedWakeUps(t *testing.T) {
	h := New(Config{Coalesce: time.Hour})
	c := newConn(true)
	r, _ := h.Subscribe("room", c)
	wait := serve(r, 0)
	fs := frames(1, 5)
	h.Publish("room", fs[0]) // after a quiet spell: at once
	c.waitWrites(t, 1)
	for _, f := range fs[1:] {
		h.Publish("room", f) // within the hour: held for the next wake-up
	}
	tp := r.topic
	tp.mu.Lock()
	pending := tp.pending
	tp.mu.Unlock()
	if !pending {
		t.Fatal("frames published within Coalesce of a wake-up scheduled none")
	}
	tp.scheduledWake() // as the timer would, an hour later
	c.waitWrites(t, 1)
	r.Close()
	_ = wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.writes) != 2 || len(c.writes[1]) != 4 {
		t.Errorf("writes %d, the second of %d frames; want 2, the second of 4", len(c.writes), len(c.writes[1]))
	}
}

// Close ends every reader with ErrClosed, and no reader joins after it.
func TestCloseEndsEveryReader(t *testing.T) {
	h := New(Config{})
	c := newConn(false)
	r, _ := h.Subscribe("room", c)
	wait := serve(r, 0)
	h.Close()
	if err := wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve: %v, want ErrClosed", err)
	}
	r.Close()
	if _, err := h.Subscribe("room", newConn(true)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

// A quiet stream is sent a heartbeat comment.
func TestHeartbeat(t *testing.T) {
	h := New(Config{Heartbeat: 10 * time.Millisecond})
	c := newConn(true)
	r, _ := h.Subscribe("room", c)
	wait := serve(r, 0)
	c.waitWrites(t, 2)
	r.Close()
	_ = wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := string(c.writes[0][0]); got != string(Heartbeat) {
		t.Errorf("wrote %q", got)
	}
}

// Every line of data is a data field of its own, so no text can start a
// field; the name comes last.
func TestNewFrame(t *testing.T) {
	f := NewFrame(7, "members", []byte("a\nid: 9\n\nevent: x"))
	want := "id: 7\ndata: a\ndata: id: 9\ndata: \ndata: event: x\nevent: members\n\n"
	if string(f.Data) != want || f.ID != 7 || !f.Named {
		t.Fatalf("frame %+v %q", f, f.Data)
	}
	if bytes.Count(f.Data, []byte("\n\n")) != 1 || !strings.HasSuffix(string(f.Data), "\n\n") {
		t.Fatal("a frame must end, once, in a blank line")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// Frames every reader has taken are let go at the watchdog's next look:
// the ring holds only what some reader still needs.
func TestRingLetsGoOfTakenFrames(t *testing.T) {
	h := New(Config{Coalesce: -1, Check: 10 * time.Millisecond})
	fast, slow := newConn(true), newConn(false)
	rf, _ := h.Subscribe("room", fast)
	rs, _ := h.Subscribe("room", slow)
	waitFast, waitSlow := serve(rf, 0), serve(rs, 0)
	fs := frames(1, 20)
	h.Publish("room", fs[0])
	waitWriting(t, rs)
	for _, f := range fs[1:] {
		h.Publish("room", f)
	}
	waitFor(t, func() bool { return len(fast.ids()) == 20 })
	held := func() int {
		rf.topic.mu.Lock()
		defer rf.topic.mu.Unlock()
		return len(rf.topic.frames)
	}
	// The slow reader took frame 1 and waits in its write: 2…20 stay.
	waitFor(t, func() bool { return held() == 19 })
	slow.let()
	waitFor(t, func() bool { return len(slow.ids()) == 20 })
	waitFor(t, func() bool { return held() == 0 })
	rf.Close()
	rs.Close()
	_, _ = waitFast(), waitSlow()
}

// waitWriting waits until r is in a write (which a closed gate holds).
func waitWriting(t *testing.T, r *Reader) {
	t.Helper()
	waitFor(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return !r.writing.IsZero()
	})
}

// A Placed frame (a room's new life) goes only to readers with a place to
// lose: one sent an event, or resumed from an id.
func TestPlacedFramesSkipReadersWithoutAPlace(t *testing.T) {
	h := New(Config{Coalesce: -1})
	fresh, resumed, placed := newConn(true), newConn(true), newConn(true)
	var rds []*Reader
	var waits []func() error
	for i, c := range []*conn{fresh, resumed, placed} {
		r, _ := h.Subscribe("room", c)
		rds = append(rds, r)
		waits = append(waits, serve(r, []uint64{0, 3, 0}[i]))
	}
	h.Publish("room", NewFrame(1, "", []byte("before"))) // placed's first event; fresh's too
	waitFor(t, func() bool { return len(placed.ids()) == 1 && len(fresh.ids()) == 1 })
	// fresh now has a place as well; a reader that joins now has none.
	late := newConn(true)
	rl, _ := h.Subscribe("room", late)
	wl := serve(rl, 0)
	reset := NewFrame(100, "reset", []byte("new life"))
	reset.Placed = true
	h.Publish("room", reset)
	h.Publish("room", NewFrame(101, "", []byte("first of the new life")))
	want := map[*conn][]uint64{fresh: {1, 100, 101}, resumed: {100, 101}, placed: {1, 100, 101}, late: {101}}
	for c, ids := range want {
		waitFor(t, func() bool { return len(c.ids()) == len(ids) })
		if diff := cmp.Diff(ids, c.ids()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	for i, r := range append(rds, rl) {
		r.Close()
		_ = append(waits, wl)[i]()
	}
}

// Close does not abort connections, but a reader stuck in a write when it
// comes is still cut off by the watchdog: its write is aborted, so its
// goroutine ends and it can leave.
func TestCloseStillCutsAStuckWrite(t *testing.T) {
	h := New(Config{Coalesce: -1, MaxLag: time.Second, Check: 10 * time.Millisecond})
	c := newConn(false)
	r, _ := h.Subscribe("room", c)
	wait := serve(r, 0)
	h.Publish("room", frames(1, 1)[0])
	waitWriting(t, r)
	h.Close()
	select {
	case <-c.aborted:
	case <-time.After(10 * time.Second):
		t.Fatal("the write stuck at Close was never aborted")
	}
	if err := wait(); err == nil {
		t.Error("Serve returned nil")
	}
	r.Close()
	waitFor(t, func() bool { return h.Readers() == 0 })
}

// A reader still writing its backlog (before Serve) is not behind on the
// frames published meanwhile: their lag counts from when it starts to serve
// them, so a long backlog to a reader that keeps reading is not cut off for
// the live events that wait behind it. A write that then sticks is.
func TestBacklogTimeIsNotLag(t *testing.T) {
	h := New(Config{Coalesce: -1, MaxLag: time.Hour})
	c := newConn(false)
	r, _ := h.Subscribe("room", c)
	f := frames(1, 1)[0]
	f.At = time.Now().Add(-time.Minute) // published when the backlog began
	h.Publish("room", f)
	const maxLag = time.Second
	lagging := func(at time.Time) bool { return len(r.topic.lagging(at, maxLag, nil)) > 0 }
	if lagging(time.Now()) {
		t.Fatal("a reader in its backlog was found behind on a frame published since it subscribed")
	}
	wait := serve(r, 0)
	waitWriting(t, r)
	if lagging(time.Now()) {
		t.Fatal("the first write after the backlog was found behind from the frame's publication")
	}
	if !lagging(time.Now().Add(2 * maxLag)) {
		t.Fatal("a write stuck for longer than MaxLag was not found behind")
	}
	c.let()
	c.waitWrites(t, 1)
	if diff := cmp.Diff([]uint64{1}, c.ids()); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	r.Close()
	_ = wait()
}

// A reader that Cut ended is aborted even when its owner, seeing it end,
// closes it at once: Close must not hand the connection back between
// Cut's end and its abort.
func TestCutAbortsBeforeCloseCanHandBack(t *testing.T) {
	h := New(Config{})
	for i := range 500 {
		c := newConn(true)
		r, err := h.Subscribe("room", c)
		if err != nil {
			t.Fatal(err)
		}
		cut := make(chan struct{})
		go func() {
			r.Cut(ErrBehind)
			close(cut)
		}()
		<-r.Done() // as Serve returns
		r.Close()
		<-cut
		select {
		case <-c.aborted:
		default:
			t.Fatalf("run %d: a reader cut off was closed without its connection aborted", i)
		}
	}
}

// A wake-up that brings only frames the reader was already sent (its
// backlog overlapped the live frames) writes nothing, and must leave no lag
// behind: a quiet room after it does not get the reader cut off.
func TestSkippedFramesLeaveNoLag(t *testing.T) {
	h := New(Config{Coalesce: -1, MaxLag: 50 * time.Millisecond, Check: 10 * time.Millisecond})
	c := newConn(true)
	r, _ := h.Subscribe("room", c)
	wait := serve(r, 5)
	h.Publish("room", NewFrame(4, "", []byte("in the backlog")))
	h.Publish("room", NewFrame(5, "", []byte("in the backlog too")))
	waitFor(t, func() bool {
		r.topic.mu.Lock()
		defer r.topic.mu.Unlock()
		return r.next == r.topic.head
	})
	time.Sleep(300 * time.Millisecond) // six times MaxLag, thirty watchdog looks
	if err := r.Err(); err != nil {
		t.Fatalf("a reader that had everything was cut off: %v", err)
	}
	r.Close()
	_ = wait()
}
