package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

const streamHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"

// roomEvents are the events of cuttingServer's room, ids 1, 2 and 3.
var roomEvents = []string{
	"id: 1\ndata: 12:00 alice: first\n\n",
	"id: 2\ndata: 12:01 bob: second\n\n",
	"id: 3\ndata: 12:02 carol: third\n\n",
}

// cuttingServer is a real TCP server that speaks just enough HTTP/1.1 to
// play a Cloakroom stream cut off in the middle of an event, as a reader
// that falls behind is (the reset drops what its host had not yet taken,
// at any byte): its first answer is first, then the connection ends (reset
// or closed); every later one is the events of roomEvents after the
// Last-Event-ID asked for, and stays open.
type cuttingServer struct {
	ln    net.Listener
	first string
	reset bool

	mu      sync.Mutex
	resumes []string // the Last-Event-ID of each later request
}

func startCuttingServer(t *testing.T, first string, reset bool) *cuttingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &cuttingServer{ln: ln, first: first, reset: reset}
	done := make(chan struct{})
	var conns sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		<-done
		conns.Wait()
	})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				s.serve(c, n == 0)
			}()
		}
	}()
	return s
}

func (s *cuttingServer) serve(c net.Conn, first bool) {
	defer c.Close()
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	if first {
		_, _ = io.WriteString(c, streamHead+s.first)
		if s.reset {
			_ = c.(*net.TCPConn).SetLinger(0)
		}
		return
	}
	s.mu.Lock()
	s.resumes = append(s.resumes, req.Header.Get("Last-Event-ID"))
	s.mu.Unlock()
	last, _ := strconv.Atoi(req.Header.Get("Last-Event-ID"))
	_, _ = io.WriteString(c, streamHead+strings.Join(roomEvents[min(last, len(roomEvents)):], ""))
	_, _ = io.Copy(io.Discard, c) // until the client goes
}

// syncBuffer is what Tail writes to, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A stream cut off in the middle of an event (a reset, or a close) leaves
// that event out: tail never prints part of one, nor resumes after an id
// it did not get whole, so the event comes again in full.
func TestTailDropsAnEventCutInHalf(t *testing.T) {
	whole := roomEvents[0]
	for _, tc := range []struct {
		name   string
		first  string
		reset  bool
		resume string
	}{
		{"reset in the data", whole + "id: 2\ndata: 12:01 bob: sec", true, "1"},
		{"closed in the data", whole + "id: 2\ndata: 12:01 bob: sec", false, "1"},
		{"reset in the id", whole + "id: 2", true, "1"},
		{"closed before the blank line", whole + "id: 2\ndata: 12:01 bob: second\n", false, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startCuttingServer(t, tc.first, tc.reset)
			ctx, cancel := context.WithCancel(context.Background())
			out := &syncBuffer{}
			done := make(chan error, 1)
			go func() {
				done <- Tail(ctx, TailConfig{Server: "http://" + srv.ln.Addr().String(), Room: "lobby", Format: "text", Since: -1}, out)
			}()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(out.String(), "third") {
				if time.Now().After(deadline) {
					t.Fatalf("tail printed %q and no third event", out.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Tail: %v", err)
			}
			want := "12:00 alice: first\n12:01 bob: second\n12:02 carol: third\n"
			if diff := cmp.Diff(want, out.String()); diff != "" {
				t.Errorf("printed (-want +got):\n%s", diff)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.resumes) == 0 || srv.resumes[0] != tc.resume {
				t.Errorf("resumed with Last-Event-ID %q, want %q", srv.resumes, tc.resume)
			}
		})
	}
}

// wholeEvents passes on whole events, whatever the line ends and however
// the bytes come, and drops an event the stream ends in.
func TestWholeEvents(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"LF", "id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\nda", "id: 1\ndata: a\n\nid: 2\ndata: b\n\n"},
		{"CRLF", "id: 1\r\ndata: a\r\n\r\nid: 2\r\ndata: b\r\n", "id: 1\r\ndata: a\r\n\r\n"},
		{"CR", "id: 1\rdata: a\r\rid: 2\r", "id: 1\rdata: a\r\r"},
		{"comment", ": keepalive\n\nid: 1", ": keepalive\n\n"},
		{"nothing whole", "id: 1\ndata: a\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunked := range []bool{false, true} {
				cut := errors.New("reset")
				r := io.MultiReader(strings.NewReader(tc.in), iotest.ErrReader(cut))
				if chunked {
					r = iotest.OneByteReader(r)
				}
				got, err := io.ReadAll(&wholeEvents{body: io.NopCloser(r)})
				if !errors.Is(err, cut) {
					t.Fatalf("error %v, want the stream's", err)
				}
				if diff := cmp.Diff(tc.want, string(got)); diff != "" {
					t.Errorf("chunked %v (-want +got):\n%s", chunked, diff)
				}
			}
		})
	}
}
