package handlers

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloakroom/cloakroom/chat"
)

// A transcript whose client stopped reading ends when the server shuts
// down (Config.Stop), well before its 30 s write timeout, so it cannot
// hold the shutdown to its own timeout.
func TestTranscriptEndsAtShutdown(t *testing.T) {
	var logs syncBuffer
	stop, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	srv := newTestServer(t, chat.Config{History: 1000}, Config{
		Stop:   stop,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	m, err := srv.hub.Join("owner", "lobby", "alice")
	if err != nil {
		t.Fatal(err)
	}
	// 1000 messages of 8 KB: more than the kernel's socket buffers hold,
	// so the writer blocks on a client that reads nothing.
	text := strings.Repeat("é", 4000)
	for range 1000 {
		if _, err := srv.hub.Post("owner", "lobby", m.ID, text, ""); err != nil {
			t.Fatal(err)
		}
	}
	conn := dialStream(t, srv, "/rooms/lobby/transcript.txt", 4096)
	// The client's receive queue full and unchanged for 30 looks (waitFor
	// looks every 10 ms): the transcript is being written, and with 8 MB
	// to go, once the server's send buffer is full too its writer is
	// blocked on this client.
	last, same := -1, 0
	waitFor(t, 20*time.Second, "the transcript's writer to block", func() bool {
		n := queued(t, conn)
		if n > 0 && n == last {
			same++
		} else {
			same = 0
		}
		last = n
		return same >= 30
	})
	if strings.Contains(logs.String(), "transcript not written to its end") {
		t.Fatalf("the transcript ended before the shutdown:\n%s", logs.String())
	}
	shutdown()
	waitFor(t, 10*time.Second, "the transcript to end", func() bool {
		return strings.Contains(logs.String(), "transcript not written to its end")
	})
}

// queued is how many bytes wait unread in conn's receive queue (SIOCINQ).
func queued(t *testing.T, conn net.Conn) int {
	t.Helper()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	return n
}
