package handlers

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

// waitFor polls cond until it holds, failing the test after timeout. It is
// for conditions no event announces, such as a server noticing a dead peer.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A reader that never reads is cut off, and meanwhile neither the posters
// nor the other readers of its room wait for it.
func TestFrozenReaderDoesNotStallTheRoom(t *testing.T) {
	srv := newTestServer(t, chat.Config{History: 5000}, Config{MaxLag: 300 * time.Millisecond})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")

	frozen, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	_ = frozen.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(frozen, "GET /rooms/lobby/events HTTP/1.1\r\nHost: test\r\n\r\n")
	waitFor(t, 5*time.Second, "the frozen reader to be attached", func() bool { return srv.hub.Readers("lobby") == 1 })

	live := srv.browser(t).stream("/rooms/lobby/events", nil)
	waitFor(t, 5*time.Second, "the live reader to be attached", func() bool { return srv.hub.Readers("lobby") == 2 })

	// Far more than the frozen reader's socket buffers can hold.
	const posts = 2000
	text := strings.Repeat("x", chat.MaxTextLength)
	for range posts {
		alice.say("lobby", me, text)
	}
	evs := live.take(t, posts)
	consecutive(t, evs, evs[0].id)

	waitFor(t, 10*time.Second, "the frozen reader to be cut off", func() bool { return srv.hub.Readers("lobby") == 1 })
	// The server resets the connection: what its kernel still held for
	// the reader is dropped, and the reader's next read fails at once
	// rather than draining megabytes first.
	_ = frozen.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, frozen)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after %d bytes, the frozen connection ended with %v, want a reset", n, err)
	}
}

// Many posters and readers that keep dropping and resuming with
// Last-Event-ID: every reader sees every event once, in order.
func TestConcurrentPostersAndReconnectingReaders(t *testing.T) {
	srv := newTestServer(t, chat.Config{History: 10000}, Config{})
	const posters, each, readers = 4, 100, 6
	const total = posters * (1 + each) // a join and the messages

	first := make(chan uint64, 1)
	watch := srv.browser(t).stream("/rooms/lobby/events", nil)

	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := range posters {
		b := srv.browser(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, loc, _ := b.post("/join", map[string][]string{"username": {fmt.Sprint("poster", p)}, "room": {"lobby"}}, nil)
			if status != http.StatusSeeOther {
				t.Errorf("join: %d", status)
				return
			}
			m := loc[strings.Index(loc, "m=")+2:]
			for i := range each {
				status, _, body := b.post("/rooms/lobby/messages", map[string][]string{"text": {fmt.Sprint(p, "-", i)}, "m": {m}}, http.Header{"Hx-Request": {"true"}})
				if status != http.StatusNoContent {
					t.Errorf("post: %d %s", status, body)
					return
				}
			}
		}()
	}

	seen := make([][]uint64, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			b := srv.browser(t)
			var ids []uint64
			header := http.Header{}
			path := "/rooms/lobby/events"
			var firstID uint64
		connect:
			for len(ids) < total {
				s := b.stream(path, header)
				for k := 1 + rng.IntN(40); k > 0 && len(ids) < total; k-- {
					ev, err := s.nextErr(10 * time.Second)
					if err != nil {
						t.Errorf("reader %d after %d events: %v", r, len(ids), err)
						s.close()
						return
					}
					if firstID == 0 {
						// A reader that starts live may miss the first
						// events; it resumes from the room's first id below.
						firstID = <-first
						first <- firstID
						if ev.id != firstID {
							s.close()
							header.Set("Last-Event-ID", strconv.FormatUint(firstID-1, 10))
							continue connect
						}
					}
					ids = append(ids, ev.id)
					header.Set("Last-Event-ID", strconv.FormatUint(ev.id, 10))
				}
				s.close()
			}
			seen[r] = ids
		}()
	}
	close(start)
	first <- watch.next(t, 10*time.Second).id
	wg.Wait()
	if t.Failed() {
		return
	}
	f := <-first
	for r, ids := range seen {
		if len(ids) != total {
			t.Fatalf("reader %d saw %d events, want %d", r, len(ids), total)
		}
		for i, id := range ids {
			if id != f+uint64(i) {
				t.Fatalf("reader %d: event %d has id %d, want %d", r, i, id, f+uint64(i))
			}
		}
	}
}

// http.Server.ReadTimeout cancels a request whose deadline passes; a stream
// must lift it for itself and outlive it.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	eachProtocol(t, func(t *testing.T, start startServer) {
		srv := start(chat.Config{}, Config{Heartbeat: 50 * time.Millisecond},
			func(s *http.Server) { s.ReadTimeout = 200 * time.Millisecond })
		alice := srv.browser(t)
		me := alice.join("lobby", "alice")
		s := srv.browser(t).stream("/rooms/lobby/events", nil)
		for range 10 { // 500 ms of heartbeats, past the read timeout
			select {
			case <-s.comments:
			case err := <-s.done:
				t.Fatalf("stream ended: %v", err)
			case <-time.After(5 * time.Second):
				t.Fatal("no heartbeat")
			}
		}
		alice.say("lobby", me, "still here")
		if ev := s.next(t, 5*time.Second); textOf(ev.data) != "still here" {
			t.Fatalf("event = %+v", ev)
		}
	})
}

// A member's streams say whether it is online (a visible tab), idle (only
// hidden tabs) or away (none, after the grace period). Readers learn it
// from debounced member-list updates that take no event id; another
// browser's stream naming the member changes nothing.
func TestPresenceFollowsStreams(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, chat.Config{PresenceGrace: 5 * time.Second, PresenceDebounce: 2 * time.Second, Now: clk.Now}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	id := strconv.FormatUint(me, 10)
	watch := srv.browser(t).stream("/rooms/lobby/events?since=0", nil)
	joined := watch.next(t, 5*time.Second)
	watch.nextList(t, 5*time.Second) // the backlog's

	sweep := func(d time.Duration) {
		t.Helper()
		clk.Add(d)
		if err := srv.hub.Sweep(); err != nil {
			t.Fatal(err)
		}
	}
	state := func(want string) {
		t.Helper()
		l := watch.nextList(t, 5*time.Second)
		if l.id != joined.id || !strings.Contains(l.data, `<li class="member `+want+`" data-member="`+id+`">`) {
			t.Fatalf("member list %+v, want alice %s at id %d", l, want, joined.id)
		}
	}

	mine := alice.stream("/rooms/lobby/events?m="+id, nil)
	waitFor(t, 5*time.Second, "alice's stream", func() bool { return srv.hub.Readers("lobby") == 2 })
	mine.close()
	waitFor(t, 5*time.Second, "alice's stream to close", func() bool { return srv.hub.Readers("lobby") == 1 })
	sweep(5 * time.Second) // the grace is over; the debounce starts
	sweep(2 * time.Second)
	state("away")

	srv.browser(t).stream("/rooms/lobby/events?m="+id, nil)
	waitFor(t, 5*time.Second, "the other browser's stream", func() bool { return srv.hub.Readers("lobby") == 2 })
	if m, err := srv.hub.Membership(alice.session(), "lobby", me); err != nil || m.State != chat.Away {
		t.Fatalf("another browser's stream made alice %v (%v)", m.State, err)
	}
	alice.say("lobby", me, "hi")
	if ev := watch.next(t, 5*time.Second); ev.id != joined.id+1 || textOf(ev.data) != "hi" {
		t.Fatalf("next event = %+v, want alice's message at %d: presence takes no ids", ev, joined.id+1)
	}

	hidden := alice.stream("/rooms/lobby/events?m="+id+"&idle="+id, nil)
	waitFor(t, 5*time.Second, "alice's hidden tab", func() bool { return srv.hub.Readers("lobby") == 3 })
	sweep(2 * time.Second)
	if l := watch.nextList(t, 5*time.Second); l.id != joined.id+1 || !strings.Contains(l.data, `<li class="member idle" data-member="`+id+`">`) {
		t.Fatalf("with a hidden tab: %+v, want alice idle", l)
	}
	alice.stream("/rooms/lobby/events?m="+id, nil)
	waitFor(t, 5*time.Second, "alice's visible tab", func() bool { return srv.hub.Readers("lobby") == 4 })
	sweep(2 * time.Second)
	if l := watch.nextList(t, 5*time.Second); !strings.Contains(l.data, `<li class="member online" data-member="`+id+`">`) {
		t.Fatalf("with a visible tab: %+v, want alice online", l)
	}
	hidden.close()

	for _, bad := range []string{"?m=x", "?idle=-1", "?m=" + strings.Repeat("1&m=", 64) + "1"} {
		if status, _, _ := alice.get("/rooms/lobby/events"+bad, nil); status != http.StatusBadRequest {
			t.Errorf("GET events%s = %d, want 400", bad, status)
		}
	}
}

// A dropped room's stream is removed, and a room of the same name made
// later streams again from a fresh, higher id.
func TestDroppedRoomStreamsAgain(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, chat.Config{RoomIdle: time.Minute, Now: clk.Now}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	s := alice.stream("/rooms/lobby/events?since=0", nil)
	old := s.next(t, 5*time.Second).id
	s.close()
	waitFor(t, 5*time.Second, "the stream to close", func() bool { return srv.hub.Readers("lobby") == 0 })
	status, _, _ := alice.post("/rooms/lobby/leave", map[string][]string{"m": {strconv.FormatUint(me, 10)}}, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("leave: %d", status)
	}
	clk.Add(time.Minute)
	if err := srv.hub.Sweep(); err != nil {
		t.Fatal(err)
	}
	if n := srv.hub.Rooms(); n != 0 {
		t.Fatalf("%d rooms after the sweep, want 0", n)
	}
	// A reader resuming from the former life waits for the room, and is
	// reset when its next life begins.
	s = alice.stream("/rooms/lobby/events", http.Header{"Last-Event-Id": {strconv.FormatUint(old+1, 10)}})
	waitFor(t, 5*time.Second, "the stream", func() bool { return srv.hub.Readers("lobby") == 1 })
	alice.join("lobby", "alice")
	r := s.next(t, 5*time.Second)
	if r.name != "reset" || r.id <= old+1 {
		t.Fatalf("resuming in the new room: %+v, want a reset past %d", r, old+1)
	}
	if ev := s.next(t, 5*time.Second); !strings.Contains(ev.data, "joined the room") || ev.id != r.id+1 {
		t.Fatalf("join in the new room: %+v, want id %d", ev, r.id+1)
	}
}

// throttled reads at most 4 KiB per tick: a reader on a slow link.
type throttled struct {
	r    io.Reader
	tick *time.Ticker
}

func (t throttled) Read(p []byte) (int, error) {
	<-t.tick.C
	return t.r.Read(p[:min(len(p), 4<<10)])
}

// A reader too slow for its room is cut off, and what it got before is a
// gap-free run of events; resuming from its last id gives it the rest.
func TestSlowReaderIsCutOffCleanly(t *testing.T) {
	// The healthy reader is this test's own parser, slow under -race on a
	// busy machine: the lag allowed is well above what it needs for the
	// burst (1.7 MB), and the slow reader takes 80 KB/s.
	srv := newTestServer(t, chat.Config{History: 5000}, Config{MaxLag: 5 * time.Second})
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	watch := srv.browser(t).stream("/rooms/lobby/events", nil)
	slow := srv.browser(t).streamThrough("/rooms/lobby/events?since=0", nil, func(r io.Reader) io.Reader { return throttled{r, tick} })

	const posters, each = 4, 25
	text := strings.Repeat("<", chat.MaxTextLength) // 16 KB of HTML once escaped
	var wg sync.WaitGroup
	for p := range posters {
		b := srv.browser(t)
		me := b.join("lobby", fmt.Sprint("poster", p))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				status, _, body := b.post("/rooms/lobby/messages", url.Values{"text": {text}, "m": {strconv.FormatUint(me, 10)}}, http.Header{"Hx-Request": {"true"}})
				if status != http.StatusNoContent {
					t.Errorf("post: %d %s", status, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := posters * (1 + each)
	all := watch.take(t, total)
	first, last := all[0].id, all[total-1].id

	var got []uint64
	for {
		ev, err := slow.nextErr(30 * time.Second)
		if err != nil {
			break // cut off
		}
		got = append(got, ev.id)
		if ev.id == last {
			break
		}
	}
	t.Logf("the slow reader got %d of %d events before %s", len(got), total, map[bool]string{true: "the end", false: "being cut off"}[len(got) == total])
	if len(got) > 0 && got[0] != first {
		t.Fatalf("first event %d, want %d", got[0], first)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("gap: %d after %d", got[i], got[i-1])
		}
	}
	resume := first - 1
	if len(got) > 0 {
		resume = got[len(got)-1]
	}
	if resume == last {
		return
	}
	rest := srv.browser(t).stream("/rooms/lobby/events", http.Header{"Last-Event-Id": {strconv.FormatUint(resume, 10)}})
	evs := rest.take(t, int(last-resume))
	consecutive(t, evs, resume+1)
}
