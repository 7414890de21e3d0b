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

// A reader follows one room's stream on a connection of its own. Its
// accounting belongs to its goroutine until done is closed.
type reader struct {
	room   int
	frozen bool // stops reading when the window opens
	body   io.ReadCloser
	conn   *net.TCPConn // frozen readers only: the connection, to watch it
	buf    int          // line buffer size

	log      seqLog
	hist     histogram     // latency of first arrivals scheduled inside the window
	inWindow uint64        // message events parsed inside the window
	distinct atomic.Uint64 // log.distinct, for the run to poll while draining

	done      chan struct{}
	closing   atomic.Bool   // the run is closing the stream: its end is no failure
	err       error         // why the stream ended, if the server or network ended it
	endedAt   time.Duration // when it did
	stoppedAt time.Duration // frozen: when it stopped reading
	stopped   chan struct{} // frozen: closed when it stopped
}

// read parses the stream until it ends (or, frozen, until the window opens)
// and records each of our messages.
func (r *reader) read(c clock, w *window) {
	defer close(r.done)
	br := bufio.NewReaderSize(r.body, r.buf)
	var long []byte
	for {
		if r.frozen && c.now() >= w.start() {
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
			if !r.closing.Load() {
				r.err, r.endedAt = err, c.now()
				if errors.Is(err, io.EOF) {
					r.err = errors.New("server ended the stream")
				}
			}
			return
		}
		seq, sched, ok := messageOf(line)
		if !ok {
			continue
		}
		now := c.now()
		if w.contains(now) {
			r.inWindow++
		}
		if r.log.add(seq) {
			r.distinct.Add(1)
			if w.contains(sched) {
				r.hist.record(now - sched)
			}
		}
	}
}

// close ends the stream from our side and waits for its goroutine.
func (r *reader) close() {
	r.closing.Store(true)
	r.body.Close()
	<-r.done
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

// readerClient is the HTTP/1.1 client all healthy readers share: a
// streaming response holds its connection, so each reader gets its own.
func readerClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   -1,
		ResponseHeaderTimeout: 30 * time.Second,
	}}
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
