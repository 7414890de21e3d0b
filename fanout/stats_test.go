package fanout

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Stats count each frame once per reader written to, the bytes written
// (backlogs sent by the owner too), and the Placed frames among them;
// OnWrite sees every live write, and its frames add up to the deliveries.
func TestStatsCountDeliveries(t *testing.T) {
	var mu sync.Mutex
	var writes []int
	h := New(Config{Coalesce: -1, OnWrite: func(n int) {
		mu.Lock()
		writes = append(writes, n)
		mu.Unlock()
	}})
	placedConn, freshConn := newConn(true), newConn(true)
	placed, _ := h.Subscribe("room", placedConn)
	fresh, _ := h.Subscribe("room", freshConn)
	backlog := []byte("id: 1\ndata: from history\n\n")
	if err := placed.Send([][]byte{backlog}, time.Now()); err != nil {
		t.Fatal(err)
	}
	waits := []func() error{serve(placed, 1), serve(fresh, 0)}

	reset := NewFrame(10, "reset", []byte("new life"))
	reset.Placed = true // for placed only: fresh has no place
	sent := append([]*Frame{reset}, frames(11, 15)...)
	var bytes uint64
	for _, f := range sent {
		h.Publish("room", f)
		bytes += 2 * uint64(len(f.Data))
	}
	bytes -= uint64(len(reset.Data)) // fresh skips it
	waitFor(t, func() bool { return len(placedConn.ids()) == 7 && len(freshConn.ids()) == 5 })

	want := Stats{Readers: 2, Delivered: 6 + 5, Placed: 1, Bytes: bytes + uint64(len(backlog))}
	if diff := cmp.Diff(want, h.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	mu.Lock()
	total := 0
	for _, n := range writes {
		total += n
	}
	mu.Unlock()
	if total != 11 {
		t.Errorf("OnWrite saw writes of %v frames, %d in all; want 11 in all", writes, total)
	}

	placed.Close()
	fresh.Close()
	for _, w := range waits {
		_ = w()
	}
	if got := h.Stats().Readers; got != 0 {
		t.Errorf("%d readers after both closed", got)
	}
}

// A reader cut off for falling behind counts once, under its cause; one
// that ends otherwise (closed, gone, the hub closing) is no cut-off.
func TestStatsCountCutOffs(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// act makes the reader behind (or not) and returns once it has
		// ended.
		act  func(t *testing.T, h *Hub, r *Reader, c *conn)
		want Stats
	}{
		{"lag", Config{Coalesce: -1, MaxLag: 50 * time.Millisecond, Check: 10 * time.Millisecond},
			func(t *testing.T, h *Hub, r *Reader, c *conn) {
				h.Publish("room", frames(1, 1)[0])
				<-r.Done()
			}, Stats{CutLag: 1}},
		// Whichever finds it first, Serve or the watchdog, the cause is
		// the ring; the stuck write is aborted, so nothing is delivered.
		{"the ring overran", Config{Coalesce: -1, RingFrames: 4, MaxLag: time.Hour, Check: 10 * time.Millisecond},
			func(t *testing.T, h *Hub, r *Reader, c *conn) {
				for _, f := range frames(1, 10) {
					h.Publish("room", f)
				}
				<-r.Done()
			}, Stats{CutRing: 1}},
		{"gone", Config{Coalesce: -1, MaxLag: time.Hour},
			func(t *testing.T, h *Hub, r *Reader, c *conn) { r.Cut(ErrGone) }, Stats{}},
		{"the hub closed", Config{Coalesce: -1, MaxLag: time.Hour},
			func(t *testing.T, h *Hub, r *Reader, c *conn) { h.Close() }, Stats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tt.cfg)
			c := newConn(false)
			r, _ := h.Subscribe("room", c)
			wait := serve(r, 0)
			tt.act(t, h, r, c)
			err := wait()
			if errors.Is(err, ErrBehind) != (tt.want.CutLag+tt.want.CutRing > 0) {
				t.Errorf("Serve returned %v", err)
			}
			r.Close()
			if diff := cmp.Diff(tt.want, h.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}
