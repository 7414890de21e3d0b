package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// clock measures offsets from the run's start on the monotonic clock, the
// unit of every schedule and measurement in a run.
type clock struct{ start time.Time }

func (c clock) now() time.Duration { return time.Since(c.start) }

// sleepUntil sleeps until offset t, or until ctx ends.
func (c clock) sleepUntil(ctx context.Context, t time.Duration) {
	d := t - c.now()
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// window is the measured part of a run, as offsets on its clock. Readers
// read it while the run sets it, just before the first message goes out;
// until then it lies in the far future.
type window struct{ from, to atomic.Int64 }

func newWindow() *window {
	w := &window{}
	w.from.Store(math.MaxInt64)
	w.to.Store(math.MaxInt64)
	return w
}

func (w *window) set(from, to time.Duration) {
	w.to.Store(int64(to))
	w.from.Store(int64(from))
}

func (w *window) start() time.Duration { return time.Duration(w.from.Load()) }
func (w *window) end() time.Duration   { return time.Duration(w.to.Load()) }

func (w *window) contains(t time.Duration) bool {
	return int64(t) >= w.from.Load() && int64(t) < w.to.Load()
}

// A reader follows one room's stream on a connection of its own. Healthy
// readers run in an event loop (evloop.go); a frozen one has a goroutine
// and net/http, so that it can stop reading while its connection stays
// open. Its accounting belongs to whichever reads it until done is closed.
type reader struct {
	room   int
	frozen bool         // stops reading when the window opens
	conn   *net.TCPConn // frozen readers only: the connection, to watch it
	buf    int          // frozen readers' line buffer size
	closer func()       // ends the stream from our side

	log      seqLog
	hist     histogram                                  // latency of first arrivals scheduled inside the window
	inWindow uint64                                     // message events parsed inside the window
	reorders uint64                                     // late arrivals whose post was accepted before the overtaking one was sent
	ordered  func(room int, earlier, later uint64) bool // the publisher's word on which must come first
	distinct atomic.Uint64                              // log.distinct, for the run to poll while draining

	once      sync.Once
	done      chan struct{}
	closing   atomic.Bool   // the run is closing the stream: its end is no failure
	err       error         // why the stream ended, if the server or network ended it
	endedAt   time.Duration // when it did
	stoppedAt time.Duration // frozen: when it stopped reading
	stopped   chan struct{} // frozen: closed when it stopped
}

func newReader(room int, frozen bool) *reader {
	r := &reader{room: room, frozen: frozen, done: make(chan struct{})}
	if frozen {
		r.stopped = make(chan struct{})
	}
	return r
}

// handle takes one SSE line parsed at now and records it if it is one of
// our messages.
func (r *reader) handle(line []byte, now time.Duration, w *window) {
	seq, sched, ok := messageOf(line)
	if !ok {
		return
	}
	if w.contains(now) {
		r.inWindow++
	}
	first, overtaken := r.log.add(seq)
	if !first {
		return
	}
	r.distinct.Add(1)
	if w.contains(sched) {
		r.hist.record(now - sched)
	}
	// A message that arrives after a later one is out of order only if the
	// server had accepted it before the later one was even sent: posts in
	// flight together may be taken in either order.
	if overtaken > 0 && r.ordered != nil && r.ordered(r.room, seq, overtaken) {
		r.reorders++
	}
}

// finish marks the stream ended, by err at t unless the run was closing
// it; only the first call counts.
func (r *reader) finish(err error, t time.Duration) {
	r.once.Do(func() {
		if err != nil && !r.closing.Load() {
			r.err, r.endedAt = err, t
		}
		close(r.done)
	})
}

// close ends the stream from our side and waits until it has ended.
func (r *reader) close() {
	if r.closer == nil {
		return // never connected
	}
	r.closing.Store(true)
	r.closer()
	if r.stopped != nil {
		select {
		case <-r.stopped: // its goroutine is gone: nobody else will finish it
			r.finish(nil, 0)
		default:
		}
	}
	<-r.done
}

// read is a frozen reader's goroutine: it parses the stream, recording
// each of our messages, until the window opens; then it stops reading and
// leaves the connection open.
func (r *reader) read(body io.Reader, c clock, w *window) {
	br := bufio.NewReaderSize(body, r.buf)
	var long []byte
	for {
		if c.now() >= w.start() {
			r.stoppedAt = c.now()
			close(r.stopped)
			return
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) { // a line longer than the buffer
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("server ended the stream")
			}
			r.finish(err, c.now())
			return
		}
		r.handle(line, c.now(), w)
	}
}

// openStream connects a reader to url. Headers arrive once the server has
// registered the stream (Cloakroom) or subscribed it (Centrifugo answers the
// connect request before its headers), so a reader is live when it returns.
func openStream(ctx context.Context, c *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("stream: %s", resp.Status)
	}
	return resp.Body, nil
}

// frozenClient is a client for one frozen reader. rcvbuf > 0 sets its
// socket's receive buffer before connecting (Linux doubles the value and
// takes it as fixed, turning autotuning off), so the server, not our
// kernel, soon holds what the reader does not read. dialed gets the
// connection.
func frozenClient(rcvbuf int, dialed **net.TCPConn) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, raw syscall.RawConn) error {
			var serr error
			err := raw.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			*dialed = c.(*net.TCPConn)
			return c, nil
		},
		DisableCompression:    true,
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: 30 * time.Second,
	}}
}

// cut is when the server gave up on a frozen reader.
type cut struct {
	at     time.Duration // offset on the run's clock; 0 while not cut
	seenBy string        // which end showed it, and its state
}

// watchCut polls a frozen reader's connection every 20 ms from when it
// stops reading until either end leaves ESTABLISHED or ctx ends: our end
// goes to CLOSE_WAIT on the server's FIN or CLOSE on its RST; the server's
// end, seen in /proc/net/tcp, goes to FIN_WAIT1 on a close whose FIN waits
// behind unread data, or vanishes.
func watchCut(ctx context.Context, c clock, r *reader) cut {
	select {
	case <-r.stopped:
	case <-r.done:
		return cut{at: r.endedAt, seenBy: "stream ended before the reader stopped"}
	case <-ctx.Done():
		return cut{}
	}
	server, _ := r.conn.RemoteAddr().(*net.TCPAddr)
	client, _ := r.conn.LocalAddr().(*net.TCPAddr)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s, err := clientState(r.conn); err == nil && s != tcpEstablished {
			return cut{at: c.now(), seenBy: "client " + stateName(s)}
		}
		if server != nil && client != nil {
			s, found, err := serverState(server, client)
			switch {
			case err == nil && !found:
				return cut{at: c.now(), seenBy: "server socket gone"}
			case found && s != tcpEstablished:
				return cut{at: c.now(), seenBy: "server " + stateName(s)}
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return cut{}
		}
	}
}
