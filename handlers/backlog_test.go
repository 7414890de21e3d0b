package handlers

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

// A reader on a slow link that keeps reading gets a backlog that takes it
// longer than MaxLag, in a room where others post all the while, and then
// the live events: it is not cut off for the events that waited behind its
// backlog.
func TestSlowLinkGetsALongBacklogInABusyRoom(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{MaxLag: time.Second})
	fillRoom(t, srv, "lobby", 100) // 1.6 MB
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")

	// A small receive buffer and 4 KiB every 10 ms: about 400 KB/s, so the
	// backlog takes some 4 s.
	conn := dialStream(t, srv, "/rooms/lobby/events?since=0", 16<<10)
	got := make(chan []byte, 1)
	failed := make(chan error, 1)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var all []byte
		buf := make([]byte, 4<<10)
		for range tick.C {
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := conn.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				failed <- fmt.Errorf("after %d bytes: %w", len(all), err)
				return
			}
			if bytes.Contains(all, []byte("the last one")) {
				got <- all
				return
			}
		}
	}()

	// Posting all through the backlog (100 posts take 5 s).
	const posts = 100
	post := time.NewTicker(50 * time.Millisecond)
	defer post.Stop()
	for i := range posts {
		select {
		case err := <-failed:
			t.Fatalf("the slow reader was cut off after %d live posts: %v", i, err)
		case <-post.C:
			alice.say("lobby", me, "live "+strconv.Itoa(i))
		}
	}
	alice.say("lobby", me, "the last one")
	select {
	case err := <-failed:
		t.Fatalf("the slow reader was cut off: %v", err)
	case all := <-got:
		// The filler's join and messages, the list, alice's join and
		// posts, and the last one.
		if n, want := bytes.Count(all, []byte("\nid: ")), 1+100+1+1+posts+1; n != want {
			t.Errorf("%d events, want %d", n, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the slow reader got nothing more in 60 s")
	}
}
