package handlers

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/fanout"
)

// fillRoom posts n messages of the largest size to a room as a new member.
func fillRoom(t *testing.T, srv *testServer, room string, n int) {
	t.Helper()
	b := srv.browser(t)
	me := b.join(room, "filler")
	text := strings.Repeat("\U0001F600", chat.MaxTextLength) // 16 KB
	for range n {
		b.say(room, me, text)
	}
}

// A reader stuck in its backlog when the server shuts down is still cut
// off (reset if its write was stuck, else ended between chunks): its stream
// ends, so the reader count falls to 0 and nothing of it is left running.
func TestCloseCutsAReaderStuckInItsBacklog(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	fillRoom(t, srv, "lobby", 100) // 1.6 MB, far more than socket buffers hold
	stuck := dialStream(t, srv, "/rooms/lobby/events?since=0", 4096)
	// The head and the first events: the backlog is being written.
	if _, err := io.ReadFull(stuck, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	srv.streams.Close()
	waitFor(t, 10*time.Second, "the stuck stream to end", func() bool { return srv.hub.Readers("lobby") == 0 })
	_ = stuck.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, stuck); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the stuck reader's connection is still open")
	}
}

// A reader in the middle of its backlog when the server shuts down has it
// ended there, cleanly: whole events, then the end of the connection, not
// the rest of a backlog that may take a slow reader minutes.
func TestCloseEndsABacklogCleanly(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	fillRoom(t, srv, "lobby", 100)
	// A small receive buffer, so the server waits on the reader from the
	// first events on.
	conn := dialStream(t, srv, "/rooms/lobby/events?since=0", 4096)
	head := make([]byte, 1024)
	if _, err := io.ReadFull(conn, head); err != nil {
		t.Fatal(err)
	}
	srv.streams.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the stream ended with %v, want a clean end", err)
	}
	got := string(head) + string(rest)
	if !strings.HasSuffix(got, "\n\n") {
		t.Errorf("the stream ends in the middle of an event: %q", got[max(0, len(got)-80):])
	}
	// The backlog holds the filler's join, 100 messages and the list.
	if n := strings.Count(got, "\nid: "); n > 100 {
		t.Errorf("%d events sent after the server closed, want the backlog cut short", n)
	}
	waitFor(t, 5*time.Second, "the stream to end", func() bool { return srv.hub.Readers("lobby") == 0 })
}

// syncLog is a log destination read while the server writes to it.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A stream cut off in its backlog is logged as cut off, not as the write
// error the cut caused.
func TestStreamCutInItsBacklogIsLoggedSo(t *testing.T) {
	var out syncLog
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newTestServer(t, chat.Config{}, Config{Logger: log, MaxLag: 300 * time.Millisecond})
	fillRoom(t, srv, "lobby", 100)
	stuck := dialStream(t, srv, "/rooms/lobby/events?since=0", 4096)
	if _, err := io.ReadFull(stuck, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the stuck stream to end", func() bool { return strings.Contains(out.String(), "stream ended") })
	if want := fmt.Sprintf("cause=%q", fanout.ErrBehind.Error()); !strings.Contains(out.String(), want) {
		t.Errorf("log:\n%s\nwant a stream ended with %s", out.String(), want)
	}
}
