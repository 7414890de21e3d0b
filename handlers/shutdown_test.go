package handlers

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
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
// off: its connection is reset and its stream ends, so the reader count
// falls to 0 and nothing of it is left running.
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
	if _, err := io.Copy(io.Discard, stuck); err == nil {
		t.Error("the stuck reader's connection ended cleanly, want a reset")
	}
}
