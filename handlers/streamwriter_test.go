package handlers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedConn is a connection whose writes wait until the gate opens, as a
// reader that has stopped reading makes them wait.
type gatedConn struct {
	header http.Header
	gate   chan struct{}
	mu     sync.Mutex
	out    bytes.Buffer
}

func (c *gatedConn) Header() http.Header { return c.header }
func (c *gatedConn) WriteHeader(int)     {}
func (c *gatedConn) Write(p []byte) (int, error) {
	<-c.gate
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}
func (c *gatedConn) FlushError() error                { return nil }
func (c *gatedConn) SetWriteDeadline(time.Time) error { return nil }

func (c *gatedConn) written() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// writeFrame does what r3labs does for one event.
func writeFrame(w *streamWriter, id int, size int) {
	fmt.Fprintf(w, "id: %d\n", id)
	fmt.Fprintf(w, "data: %s\n", strings.Repeat("x", size))
	fmt.Fprint(w, "\n")
	w.Flush()
}

// A reader that falls too far behind is cut off, and what it was sent is
// always a gap-free run of events: an event after a refused one never
// follows it out.
func TestStreamWriterOverflowSendsOnlyAPrefix(t *testing.T) {
	for trial := range 200 {
		conn := &gatedConn{header: http.Header{}, gate: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		w := newStreamWriter(conn, http.NewResponseController(conn), cancel, Config{}.withDefaults())
		go w.run(ctx, func(func([]byte) error) (uint64, error) { return 0, nil })
		w.Flush() // r3labs's header flush

		// The writer takes what is queued and blocks writing it; the rest
		// pile up until one frame no longer fits. A small one after it
		// would fit, and must not go out.
		const big = 40 << 10
		id := 1
		for ; ctx.Err() == nil; id++ {
			if id > 2*maxQueued/big+2 {
				t.Fatalf("trial %d: overflow did not cut the reader off", trial)
			}
			writeFrame(w, id, big)
		}
		writeFrame(w, id, 10)
		close(conn.gate)
		<-w.done

		var ids []int
		for line := range strings.Lines(conn.written()) {
			var n int
			if _, err := fmt.Sscanf(line, "id: %d\n", &n); err == nil {
				ids = append(ids, n)
			}
		}
		for i, n := range ids {
			if n != i+1 {
				t.Fatalf("trial %d: sent ids %v, not a gap-free prefix", trial, ids)
			}
		}
		cancel()
	}
}

// A frame too large to be an event is refused whole, and nothing after it
// goes out.
func TestStreamWriterRefusesOversizedFrame(t *testing.T) {
	conn := &gatedConn{header: http.Header{}, gate: make(chan struct{})}
	close(conn.gate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newStreamWriter(conn, http.NewResponseController(conn), cancel, Config{}.withDefaults())
	go w.run(ctx, func(func([]byte) error) (uint64, error) { return 0, nil })
	w.Flush()
	writeFrame(w, 1, 10)
	writeFrame(w, 2, maxFrame)
	writeFrame(w, 3, 10)
	<-w.done
	got := conn.written()
	if strings.Contains(got, "id: 2") || strings.Contains(got, "id: 3") {
		t.Fatalf("sent after an oversized frame: %q", got)
	}
}

// Live frames queued while the backlog was read are dropped when the backlog
// covered them: history events up to its last id, and member lists older
// than it, which would move the reader's resume point back.
func TestStreamWriterDropsWhatTheBacklogCovered(t *testing.T) {
	conn := &gatedConn{header: http.Header{}, gate: make(chan struct{})}
	close(conn.gate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newStreamWriter(conn, http.NewResponseController(conn), cancel, Config{}.withDefaults())
	queued := make(chan struct{})
	go w.run(ctx, func(send func([]byte) error) (uint64, error) {
		<-queued
		return 10, send([]byte("id: 10\ndata: backlog\n\nid: 10\ndata: list 2\nevent: members\n\n"))
	})
	w.Flush()
	named := func(id int, data string) {
		fmt.Fprintf(w, "id: %d\ndata: %s\nevent: members\n\n", id, data)
		w.Flush()
	}
	writeFrame(w, 9, 1)
	named(9, "list 1")
	named(10, "list 3")
	writeFrame(w, 10, 1)
	writeFrame(w, 11, 1)
	close(queued)
	waitFor(t, 5*time.Second, "event 11", func() bool { return strings.Contains(conn.written(), "id: 11") })

	var got []string
	for block := range strings.SplitSeq(strings.TrimSpace(conn.written()), "\n\n") {
		lines := strings.Split(block, "\n")
		got = append(got, lines[0]+" "+lines[1])
	}
	want := []string{"id: 10 data: backlog", "id: 10 data: list 2", "id: 10 data: list 3", "id: 11 data: x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("sent %q, want %q", got, want)
	}
}
