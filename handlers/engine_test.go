package handlers

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

// dialStream opens a stream over a bare TCP connection and reads nothing,
// as a client that has stopped reading; rcvbuf, if not 0, is its receive
// buffer (SO_RCVBUF), set before connecting so the window is small from
// the start.
func dialStream(t *testing.T, srv *testServer, path string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var err error
			if cerr := c.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); cerr != nil {
				return cerr
			}
			return err
		}
	}
	conn, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
	return conn
}

// A stream costs at most two goroutines over HTTP/1.1: the request's,
// which writes, and one that notices the client going away. Over HTTP/2 it
// costs one: the handler's, which writes and waits for the request's
// context, which net/http's HTTP/2 server ends when the client resets the
// stream (the connection's own goroutines are shared by its streams).
func TestGoroutinesPerStream(t *testing.T) {
	t.Run("http1", func(t *testing.T) {
		srv := newTestServer(t, chat.Config{}, Config{})
		alice := srv.browser(t)
		me := alice.join("lobby", "alice")
		first := dialStream(t, srv, "/rooms/lobby/events", 0) // starts what all streams share
		waitFor(t, 5*time.Second, "the first stream", func() bool { return srv.hub.Readers("lobby") == 1 })

		before := runtime.NumGoroutine()
		const n = 40
		conns := make([]net.Conn, n)
		for i := range conns {
			conns[i] = dialStream(t, srv, "/rooms/lobby/events", 0)
		}
		waitFor(t, 5*time.Second, "the streams", func() bool { return srv.hub.Readers("lobby") == n+1 })
		alice.say("lobby", me, "hello") // every stream busy once
		for _, c := range append(conns, first) {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			var got strings.Builder
			for !strings.Contains(got.String(), "hello") {
				k, err := c.Read(buf)
				if err != nil {
					t.Fatalf("reading a stream: %v", err)
				}
				got.Write(buf[:k])
			}
		}
		per := float64(runtime.NumGoroutine()-before) / n
		t.Logf("%.2f goroutines per stream", per)
		if per > 2 {
			t.Errorf("%.2f goroutines per stream, want at most 2", per)
		}
		for _, c := range conns {
			c.Close()
		}
		waitFor(t, 5*time.Second, "the streams to end", func() bool { return srv.hub.Readers("lobby") == 1 })
		waitFor(t, 5*time.Second, "their goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	})
	t.Run("h2", func(t *testing.T) {
		srv := newHTTP2TestServer(t, chat.Config{}, Config{})
		alice := srv.browser(t)
		me := alice.join("lobby", "alice")
		conn := dialH2(t, srv, false) // one connection, as a browser's tabs share
		first := conn.open(t, "/rooms/lobby/events")
		waitFor(t, 5*time.Second, "the first stream", func() bool { return srv.hub.Readers("lobby") == 1 })

		before := runtime.NumGoroutine()
		const n = 40
		ids := make([]uint32, n)
		for i := range ids {
			ids[i] = conn.open(t, "/rooms/lobby/events")
		}
		waitFor(t, 5*time.Second, "the streams", func() bool { return srv.hub.Readers("lobby") == n+1 })
		alice.say("lobby", me, "hello") // every stream busy once
		for _, id := range append(ids, first) {
			waitFor(t, 5*time.Second, "the message on every stream", func() bool { return conn.received(id, "hello") })
		}
		per := float64(runtime.NumGoroutine()-before) / n
		t.Logf("%.2f goroutines per stream", per)
		if per > 1 {
			t.Errorf("%.2f goroutines per stream, want at most 1", per)
		}
		for _, id := range ids {
			conn.close(t, id)
		}
		waitFor(t, 5*time.Second, "the streams to end", func() bool { return srv.hub.Readers("lobby") == 1 })
		waitFor(t, 5*time.Second, "their goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	})
}

// A reader that stops reading is cut off while messages flow, whatever
// their size, and the reader beside it gets every event. Over HTTP/1.1 the
// stuck reader has a 4 KiB receive buffer, so its own host holds little,
// and the cut resets its connection. Over HTTP/2 both readers share one
// connection; the stuck one's stream window is 16 KiB (the client's
// setting), and the cut resets its stream only: the other goes on. The
// time it took is logged; the figures are docs/PERFORMANCE.md's, measured
// with the load tool.
func TestStuckReaderIsCutOffAtEverySize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		every time.Duration
	}{
		{"300 B at 20 per s", strings.Repeat("x", 300), 50 * time.Millisecond},
		{"4 KB at 20 per s", strings.Repeat("x", 4000), 50 * time.Millisecond},
		// 4000 characters of 4 bytes each: the most a message may hold.
		{"16 KB at 100 per s", strings.Repeat("\U0001F600", chat.MaxTextLength), 10 * time.Millisecond},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				srv := startTestServer(t, p.h2, chat.Config{}, Config{})
				alice := srv.browser(t)
				me := alice.join("lobby", "alice")
				var stuck io.Reader
				var dials atomic.Int64
				var live *stream
				if p.h2 {
					reader := srv.browser(t)
					reader.client.Transport = h2Transport(t, srv, 16<<10, &dials)
					live = reader.stream("/rooms/lobby/events?format=text", nil)
					resp, cancel := reader.request("/rooms/lobby/events", nil) // its body is never read
					t.Cleanup(func() { cancel(); resp.Body.Close() })
					if resp.ProtoMajor != 2 || live.resp.ProtoMajor != 2 {
						t.Fatalf("%s and %s, want HTTP/2", resp.Proto, live.resp.Proto)
					}
					stuck = resp.Body
				} else {
					live = srv.browser(t).stream("/rooms/lobby/events?format=text", nil)
					stuck = dialStream(t, srv, "/rooms/lobby/events", 4096)
				}
				waitFor(t, 5*time.Second, "both readers", func() bool { return srv.hub.Readers("lobby") == 2 })

				start := time.Now()
				tick := time.NewTicker(tc.every)
				defer tick.Stop()
				sent := 0
				for srv.hub.Readers("lobby") == 2 {
					if time.Since(start) > 60*time.Second {
						t.Fatal("the stuck reader was not cut off in 60 s")
					}
					<-tick.C
					alice.say("lobby", me, tc.text)
					sent++
				}
				t.Logf("cut off after %v (%d messages)", time.Since(start).Round(10*time.Millisecond), sent)

				evs := live.take(t, sent)
				consecutive(t, evs, evs[0].id)
				if p.h2 {
					if n := dials.Load(); n != 1 {
						t.Errorf("%d connections, want the readers on one", n)
					}
				} else if conn, ok := stuck.(net.Conn); ok {
					_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				}
				// The reset discards what the stuck reader's host held
				// (HTTP/1.1: RST on the connection; HTTP/2: RST_STREAM).
				if _, err := io.Copy(io.Discard, stuck); err == nil {
					t.Error("the stuck reader's stream ended cleanly, want a reset")
				}
			})
		}
	}
}

// Over HTTP/2, a client whose whole connection is stuck (it reads nothing,
// so net/http's writes to the connection block, not just one stream's flow
// control) has every stream on it cut within the same bound: a stream's
// write waits on the connection's writer, and the cut's RST_STREAM ends
// the wait even though it cannot be sent. The connection itself is closed
// by http.HTTP2Config.WriteByteTimeout, as main.go sets it (there 30 s).
func TestStuckHTTP2ConnectionCutsEveryStream(t *testing.T) {
	var closed atomic.Int64
	srv := startTestServer(t, true, chat.Config{}, Config{}, func(s *http.Server) {
		s.HTTP2 = &http.HTTP2Config{WriteByteTimeout: time.Second}
		s.ConnState = func(_ net.Conn, state http.ConnState) {
			if state == http.StateClosed {
				closed.Add(1)
			}
		}
	})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	live := srv.browser(t).stream("/rooms/lobby/events?format=text", nil) // another connection
	stuck := dialH2(t, srv, true)
	for range 3 {
		stuck.open(t, "/rooms/lobby/events")
	}
	waitFor(t, 5*time.Second, "the readers", func() bool { return srv.hub.Readers("lobby") == 4 })

	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for srv.hub.Readers("lobby") > 1 {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("%d readers left after 60 s, want the stuck connection's 3 cut", srv.hub.Readers("lobby")-1)
		}
		<-tick.C
		alice.say("lobby", me, strings.Repeat("x", 4000))
		sent++
	}
	t.Logf("cut off after %v (%d messages)", time.Since(start).Round(10*time.Millisecond), sent)
	evs := live.take(t, sent)
	consecutive(t, evs, evs[0].id)
	waitFor(t, 10*time.Second, "the stuck connection to be closed", func() bool { return closed.Load() == 1 })
}

// Over HTTP/2 a connection cannot be taken over: streams write through the
// ResponseWriter, several share one connection, and the contract holds
// (backlog, live events, resume).
func TestStreamsOverHTTP2(t *testing.T) {
	srv := newHTTP2TestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	reader := srv.browser(t)
	a := reader.stream("/rooms/lobby/events?since=0", nil)
	b := reader.stream("/rooms/lobby/events?format=json", nil)
	if a.resp.ProtoMajor != 2 || b.resp.ProtoMajor != 2 {
		t.Fatalf("protocols %s, %s; want HTTP/2", a.resp.Proto, b.resp.Proto)
	}
	joined := a.next(t, 5*time.Second)
	waitFor(t, 5*time.Second, "both streams", func() bool { return srv.hub.Readers("lobby") == 2 })
	for i := range 5 {
		alice.say("lobby", me, fmt.Sprint("message ", i))
	}
	consecutive(t, a.take(t, 5), joined.id+1)
	consecutive(t, b.take(t, 5), joined.id+1)
	a.close()
	c := reader.stream("/rooms/lobby/events", http.Header{"Last-Event-Id": {fmt.Sprint(joined.id + 2)}})
	consecutive(t, c.take(t, 3), joined.id+3)
}

// 10,000 streams opened and closed leave nothing behind: no reader counted,
// no goroutine, and a heap back within 4 MiB of where it started. The
// cycles are bounded by time as well (60 s), for a slow machine.
func TestTenThousandStreamsLeaveNothing(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	alice.join("lobby", "alice")
	cycle := func(i int) {
		// Not dialStream: its cleanups would keep 10,000 connections.
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Errorf("cycle %d: %v", i, err)
			return
		}
		fmt.Fprintf(conn, "GET /rooms/%s/events HTTP/1.1\r\nHost: test\r\n\r\n", []string{"lobby", "elsewhere"}[i%2])
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		head := make([]byte, 512)
		var got []byte
		for !bytes.Contains(got, []byte("\r\n\r\n")) {
			n, err := conn.Read(head)
			if err != nil {
				t.Errorf("cycle %d: %v", i, err)
				break
			}
			got = append(got, head[:n]...)
		}
		conn.Close()
	}
	for i := range 100 { // warm: code, pools, the first topics
		cycle(i)
	}
	waitFor(t, 10*time.Second, "the warm-up streams to end", func() bool { return srv.hub.Readers("lobby")+srv.hub.Readers("elsewhere") == 0 })
	goroutines, heap := runtime.NumGoroutine(), heapInUse()

	const cycles, workers = 10000, 8
	deadline := time.Now().Add(60 * time.Second)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= cycles && time.Now().Before(deadline) && !t.Failed(); i = int(next.Add(1)) {
				cycle(i)
			}
		})
	}
	wg.Wait()
	done := min(int(next.Load())-workers, cycles)
	t.Logf("%d stream cycles", done)
	waitFor(t, 10*time.Second, "every stream to end", func() bool { return srv.hub.Readers("lobby")+srv.hub.Readers("elsewhere") == 0 })
	waitFor(t, 10*time.Second, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
	after := heapInUse()
	t.Logf("heap in use: %.1f MiB before, %.1f MiB after", float64(heap)/(1<<20), float64(after)/(1<<20))
	if after > heap+4<<20 {
		t.Errorf("heap grew by %.1f MiB over %d stream cycles", float64(after-heap)/(1<<20), done)
	}
}

// heapInUse collects garbage and returns the bytes of heap in use.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
