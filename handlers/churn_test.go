package handlers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/limits"
)

// faultyLog is a chat.Log whose reads, while damage is set, fail or
// return the newest record damaged, so a backlog fails before the stream
// starts or in the middle of being written.
type faultyLog struct {
	chat.Log
	damage  atomic.Bool
	failed  atomic.Int64 // reads that failed
	damaged atomic.Int64 // reads that returned a damaged record
}

func (l *faultyLog) Read(room string, after uint64, limit int) ([]chat.Record, error) {
	if l.damage.Load() && rand.IntN(2) == 0 {
		l.failed.Add(1)
		return nil, errors.New("the log is out of reach")
	}
	recs, err := l.Log.Read(room, after, limit)
	if err != nil || !l.damage.Load() || len(recs) == 0 {
		return recs, err
	}
	l.damaged.Add(1)
	recs = slices.Clone(recs)
	last := &recs[len(recs)-1]
	last.Sealed = slices.Clone(last.Sealed)
	last.Sealed[len(last.Sealed)-1] ^= 1
	return recs, nil
}

// streamEnds are the ways a stream ends, from the client's side; each
// dials its own connection and reads per its kind.
var streamEnds = []struct {
	name string
	run  func(t *testing.T, addr, room string, rng *rand.Rand)
}{
	{"closed before the answer", func(t *testing.T, addr, room string, _ *rand.Rand) {
		c := rawStream(t, addr, "GET /rooms/"+room+"/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0)
		c.Close()
	}},
	{"closed after the head", func(t *testing.T, addr, room string, _ *rand.Rand) {
		c := rawStream(t, addr, "GET /rooms/"+room+"/events?format=text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0)
		defer c.Close()
		readUntil(c, "\r\n\r\n")
	}},
	{"closed in the backlog", func(t *testing.T, addr, room string, rng *rand.Rand) {
		c := rawStream(t, addr, "GET /rooms/"+room+"/events?since=0&format=json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0)
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.CopyN(io.Discard, c, int64(rng.IntN(64<<10)))
	}},
	{"resumed, then closed", func(t *testing.T, addr, room string, rng *rand.Rand) {
		c := rawStream(t, addr, fmt.Sprintf("GET /rooms/%s/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nLast-Event-ID: %d\r\n\r\n", room, rng.Uint64N(1<<53)), 0)
		defer c.Close()
		readUntil(c, "event: members")
	}},
	{"half-closed", func(t *testing.T, addr, room string, _ *rand.Rand) {
		c := rawStream(t, addr, "GET /rooms/"+room+"/events?since=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0)
		defer c.Close()
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(io.Discard, c)
	}},
	{"HTTP/1.0 with a pipelined request", func(t *testing.T, addr, room string, _ *rand.Rand) {
		c := rawStream(t, addr, "GET /rooms/"+room+"/events?since=0 HTTP/1.0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n", 0)
		defer c.Close()
		readUntil(c, "event: members")
	}},
	{"stuck in the backlog until cut off", func(t *testing.T, addr, _ string, _ *rand.Rand) {
		// The room big keeps a backlog far larger than socket buffers.
		c := rawStream(t, addr, "GET /rooms/big/events?since=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 4096)
		defer c.Close()
		readUntil(c, "\r\n\r\n")
		// Reading nothing more, only looking whether it has been reset.
		deadline := time.Now().Add(10 * time.Second)
		for !peekEnded(c) {
			if time.Now().After(deadline) {
				t.Error("a reader stuck in its backlog was not cut off in 10 s")
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}},
}

func isDeadline(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// peekEnded reports whether c has ended, without taking anything from its
// receive queue (which a reset leaves for the reader to drain): reset
// (SO_ERROR, which reports it once), or closed with nothing left to read.
func peekEnded(c net.Conn) bool {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return true
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return true
	}
	ended := false
	_ = raw.Control(func(fd uintptr) {
		if soErr, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR); err != nil || soErr != 0 {
			ended = true
			return
		}
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ended = (n == 0 && err == nil) || (err != nil && !errors.Is(err, syscall.EAGAIN))
	})
	return ended
}

// rawStream dials addr and sends req; rcvbuf, if not 0, is the socket's
// receive buffer. A refused dial is a test error. (The requests above ask
// for Connection: close, so that a refusal, such as a 500 when the log
// fails, ends the connection as a stream's end does.)
func rawStream(t *testing.T, addr, req string, rcvbuf int) net.Conn {
	d := net.Dialer{}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return nopConn{}
	}
	_, _ = io.WriteString(c, req)
	return c
}

// readUntil reads c until it has seen s, or it ends, or 10 s pass.
func readUntil(c net.Conn, s string) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var tail string
	for !strings.Contains(tail, s) {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tail = line
		if s == "\r\n\r\n" && line == "\r\n" {
			return
		}
	}
}

type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }

// Streams opened and ended every way there is, while members post, join
// and leave, rooms are dropped and made again, and backlogs fail: nothing
// is left behind (readers, goroutines) once the server has closed, and
// the stream limit is whole again.
func TestStreamChurnLeavesNothing(t *testing.T) {
	clk := newClock()
	flog := &faultyLog{Log: chat.NewMemoryLog(100)}
	const maxStreams = 64
	// Each sweep moves the clock a minute: rooms a, b and c, which their
	// posters leave, are dropped often; big's member never goes away.
	// Every stream counts against its client (all of them 127.0.0.1), and
	// none is refused for it: the count must come back to 0.
	lim := limits.New(limits.Config{Streams: 1 << 20})
	srv := newTestServer(t, chat.Config{RoomIdle: time.Minute, AwayTimeout: 100 * 365 * 24 * time.Hour, Now: clk.Now, MaxReaders: maxStreams, Log: flog, History: 100},
		Config{MaxLag: 300 * time.Millisecond, Limits: lim})
	addr := srv.Listener.Addr().String()
	fillRoom(t, srv, "big", 60) // its filler stays, so it is never dropped
	baseline := goleak.IgnoreCurrent()
	var heap0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heap0)

	rooms := []string{"a", "b", "c"}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	loop := func(fn func(rng *rand.Rand)) {
		bg.Add(1)
		go func() {
			defer bg.Done()
			rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
			for {
				select {
				case <-stop:
					return
				default:
					fn(rng)
				}
			}
		}()
	}
	big := strings.Repeat("\U0001F600", chat.MaxTextLength)
	for p := range 3 {
		loop(func(rng *rand.Rand) {
			room := rooms[rng.IntN(len(rooms))]
			owner := fmt.Sprint("poster", p)
			m, err := srv.hub.Join(owner, room, owner)
			if err != nil {
				return
			}
			for range 1 + rng.IntN(10) {
				text := "hello"
				if rng.IntN(4) == 0 {
					text = big
				}
				_, _ = srv.hub.Post(owner, room, m.ID, text, "")
				time.Sleep(time.Millisecond) // a busy room, not a flood
			}
			_ = srv.hub.Leave(owner, room, m.ID)
		})
	}
	loop(func(*rand.Rand) {
		clk.Add(time.Minute)
		if err := srv.hub.Sweep(); err != nil {
			t.Error(err)
		}
		time.Sleep(time.Millisecond)
	})
	loop(func(rng *rand.Rand) {
		flog.damage.Store(rng.IntN(8) == 0)
		time.Sleep(time.Millisecond)
	})

	const streams, workers = 1000, 8
	var next atomic.Int64
	ended := make([]atomic.Int64, len(streamEnds))
	took := make([]atomic.Int64, len(streamEnds))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for next.Add(1) <= streams {
				k := rng.IntN(len(streamEnds))
				start := time.Now()
				streamEnds[k].run(t, addr, rooms[rng.IntN(len(rooms))], rng)
				ended[k].Add(1)
				took[k].Add(int64(time.Since(start)))
			}
		}()
	}
	// A few streams are still open when the server closes.
	var open []net.Conn
	for i := range 6 {
		open = append(open, rawStream(t, addr, fmt.Sprintf("GET /rooms/%s/events?since=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", rooms[i%3]), 0))
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	for k, e := range streamEnds {
		t.Logf("%4d %s, %v", ended[k].Load(), e.name, time.Duration(took[k].Load()))
	}
	t.Logf("%d reads failed, %d returned a damaged record", flog.failed.Load(), flog.damaged.Load())
	srv.streams.Close()
	for _, c := range open {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); isDeadline(err) {
			t.Error("a stream open at shutdown did not end")
		}
		c.Close()
	}

	waitFor(t, 10*time.Second, "every reader to leave", func() bool {
		n := srv.streams.fan.Readers()
		for _, room := range append(rooms, "big") {
			n += srv.hub.Readers(room)
		}
		return n+lim.Streams(loopback) == 0 // and no stream still counted against its client
	})
	// The stream limit is whole: as many streams may attach as at the start.
	var detach []func()
	for range maxStreams {
		d, err := srv.hub.Attach("", "check")
		if err != nil {
			t.Fatalf("after %d attaches: %v (a stream that ended still counts)", len(detach), err)
		}
		detach = append(detach, d)
	}
	for _, d := range detach {
		d()
	}
	if err := goleak.Find(baseline); err != nil {
		t.Error(err)
	}
	var heap1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heap1)
	t.Logf("heap in use: %d KB before, %d KB after", heap0.HeapInuse>>10, heap1.HeapInuse>>10)
}
