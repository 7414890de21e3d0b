package handlers

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

func TestStreamLiveOnly(t *testing.T) {
	eachProtocol(t, func(t *testing.T, start startServer) {
		srv := start(chat.Config{}, Config{})
		alice := srv.browser(t)
		me := alice.join("lobby", "alice")
		alice.say("lobby", me, "before")

		anyone := srv.browser(t) // no cookie: the stream is open to all
		s := anyone.stream("/rooms/lobby/events", nil)
		alice.say("lobby", me, "after")
		ev := s.next(t, 5*time.Second)
		if ev.name != "" || textOf(ev.data) != "after" {
			t.Fatalf("first event = %+v, want the live message only", ev)
		}
	})
}

func TestStreamResumePoints(t *testing.T) {
	eachProtocol(t, func(t *testing.T, start startServer) {
		srv := start(chat.Config{History: 5}, Config{})
		id := func(n uint64) string { return strconv.FormatUint(n, 10) }
		// Each case gets a room of its own with 8 events, of which the last 5
		// are retained, and is told the ids of the oldest retained and the last.
		tests := []struct {
			name   string
			query  func(oldest, last uint64) string
			header func(oldest, last uint64) http.Header
			reset  bool
			first  func(oldest, last uint64) uint64 // the first event after any reset
			n      int                              // events before live ones
		}{
			{"since=0 is all retained", func(o, l uint64) string { return "?since=0" }, nil, false, func(o, l uint64) uint64 { return o }, 5},
			{"since in the middle", func(o, l uint64) string { return "?since=" + id(l-2) }, nil, false, func(o, l uint64) uint64 { return l - 1 }, 2},
			{"since just before the oldest", func(o, l uint64) string { return "?since=" + id(o-1) }, nil, false, func(o, l uint64) uint64 { return o }, 5},
			{"up to date", func(o, l uint64) string { return "?since=" + id(l) }, nil, false, func(o, l uint64) uint64 { return l + 1 }, 0},
			{"Last-Event-ID wins over since", func(o, l uint64) string { return "?since=0" },
				func(o, l uint64) http.Header { return http.Header{"Last-Event-Id": {id(l - 1)}} }, false, func(o, l uint64) uint64 { return l }, 1},
			{"Last-Event-ID alone", nil, func(o, l uint64) http.Header { return http.Header{"Last-Event-Id": {id(l - 3)}} }, false, func(o, l uint64) uint64 { return l - 2 }, 3},
			{"older than retained", func(o, l uint64) string { return "?since=" + id(o-2) }, nil, true, func(o, l uint64) uint64 { return o }, 5},
			{"from an earlier run", func(o, l uint64) string { return "?since=42" }, nil, true, func(o, l uint64) uint64 { return o }, 5},
			{"newer than the newest", nil, func(o, l uint64) http.Header { return http.Header{"Last-Event-Id": {id(l + 1000)}} }, true, func(o, l uint64) uint64 { return o }, 5},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				room := fmt.Sprint("room", i)
				alice, me, oldest, last := eightEvents(t, srv, room)

				path := "/rooms/" + room + "/events"
				if tt.query != nil {
					path += tt.query(oldest, last)
				}
				var header http.Header
				if tt.header != nil {
					header = tt.header(oldest, last)
				}
				first := tt.first(oldest, last)
				s := srv.browser(t).stream(path, header)
				if tt.reset {
					r := s.next(t, 5*time.Second)
					if r.name != "reset" || r.id != first-1 || !strings.Contains(r.data, "history") {
						t.Fatalf("first event = %+v, want a reset with id %d", r, first-1)
					}
				}
				got := s.take(t, tt.n)
				consecutive(t, got, first)
				for _, e := range got {
					if e.name != "" {
						t.Fatalf("event %d is named %q", e.id, e.name)
					}
				}
				// Then live events, with no gap and no repeat.
				alice.say(room, me, "live")
				live := s.next(t, 5*time.Second)
				if live.id != first+uint64(tt.n) || textOf(live.data) != "live" {
					t.Fatalf("live event = %+v, want id %d", live, first+uint64(tt.n))
				}
			})
		}
	})
}

func TestStreamRejectsBadInput(t *testing.T) {
	srv := newTestServer(t, chat.Config{MaxRooms: 1}, Config{})
	b := srv.browser(t)
	tests := []struct {
		path   string
		header http.Header
		status int
	}{
		{"/rooms/lobby/events?since=abc", nil, http.StatusBadRequest},
		{"/rooms/lobby/events?since=-1", nil, http.StatusBadRequest},
		{"/rooms/lobby/events", http.Header{"Last-Event-Id": {"1e9"}}, http.StatusBadRequest},
		{"/rooms/lobby/events?m=me", nil, http.StatusBadRequest},
		// A bad name is the client's mistake and must say so.
		{"/rooms/no%20such/events", nil, http.StatusBadRequest},
		{"/rooms/" + strings.Repeat("x", 65) + "/events", nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		status, _, body := b.get(tt.path, tt.header)
		if status != tt.status || body == "" {
			t.Errorf("GET %s = %d %q, want %d with a reason", tt.path, status, body, tt.status)
		}
	}
}

// A stream to a room that does not exist waits for it without making it:
// streams to many such rooms take none of the rooms a join may make, and
// the waiting stream sees the room's events from its creation.
func TestStreamsNeverMakeRooms(t *testing.T) {
	srv := newTestServer(t, chat.Config{MaxRooms: 2}, Config{})
	var waiting []*stream
	for i := range 5 {
		waiting = append(waiting, srv.browser(t).stream(fmt.Sprintf("/rooms/anon-%d/events", i), nil))
	}
	waitFor(t, 5*time.Second, "the streams", func() bool { return srv.hub.Readers("anon-4") == 1 })
	if n := srv.hub.Rooms(); n != 0 {
		t.Fatalf("%d rooms made by streams", n)
	}
	alice := srv.browser(t)
	alice.join("anon-0", "alice")
	alice.join("lobby", "alice")
	if ev := waiting[0].next(t, 5*time.Second); !strings.Contains(ev.data, "joined the room") || ev.name != "" {
		t.Fatalf("the waiting stream's first event: %+v, want alice's join (no reset: it had no place)", ev)
	}
}

// A message cannot forge SSE fields: CR and CRLF become LF, every line of
// data is prefixed, and the HTML is escaped.
func TestStreamInjection(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	s := srv.browser(t).stream("/rooms/lobby/events", nil)
	attacks := []string{
		"hi\n\nid: 1\nevent: reset\ndata: forged",
		"hi\r\rid: 2\revent: reset\rdata: forged",
		"hi\r\n\r\nid: 3\r\nevent: reset\r\n",
		": a comment?\ndata: more",
		"retry: 1\n:\n\nevent:",
		"</p></li><script>alert(1)</script>",
		"<li hx-swap-oob=\"true\" id=\"members\">pwned</li>",
	}
	for _, a := range attacks {
		alice.say("lobby", me, a)
	}
	evs := s.take(t, len(attacks))
	consecutive(t, evs, evs[0].id)
	for i, ev := range evs {
		want, _ := chat.MessageText(attacks[i])
		if ev.name != "" || html.UnescapeString(textOf(ev.data)) != want {
			t.Errorf("attack %d arrived as %+v; want an unnamed message with text %q", i, ev, want)
		}
		if strings.Contains(ev.data, "<script>") || strings.Contains(ev.data, `<li hx-swap-oob`) {
			t.Errorf("attack %d is not escaped: %q", i, ev.data)
		}
	}
}

func TestStreamHeartbeat(t *testing.T) {
	eachProtocol(t, func(t *testing.T, start startServer) {
		srv := start(chat.Config{}, Config{Heartbeat: 20 * time.Millisecond})
		s := srv.browser(t).stream("/rooms/lobby/events", nil)
		select {
		case c := <-s.comments:
			if c != ": keepalive" {
				t.Fatalf("heartbeat = %q", c)
			}
		case err := <-s.done:
			t.Fatalf("stream ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat")
		}
	})
}

// A reader that resumes while others post gets every event exactly once:
// the backlog and the live events meet without a gap or a repeat.
func TestStreamResumeWhilePosting(t *testing.T) {
	eachProtocol(t, func(t *testing.T, start startServer) {
		srv := start(chat.Config{History: 10000}, Config{})
		alice := srv.browser(t)
		me := alice.join("lobby", "alice")
		const total = 300
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range total {
				alice.say("lobby", me, fmt.Sprint(i))
			}
		}()
		var readers []*stream
		for range 10 {
			readers = append(readers, srv.browser(t).stream("/rooms/lobby/events?since=0", nil))
		}
		<-done
		for _, s := range readers {
			evs := s.take(t, total+1)
			consecutive(t, evs, evs[0].id)
		}
	})
}

// The room comes from the path alone: a ?stream= (r3labs's parameter, which
// once picked the stream) neither picks another room nor makes a topic.
func TestStreamIgnoresClientStreamParameter(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	s := srv.browser(t).stream("/rooms/lobby/events?stream=elsewhere", nil)
	alice.say("lobby", me, "here")
	if ev := s.next(t, 5*time.Second); textOf(ev.data) != "here" {
		t.Fatalf("event = %+v, want lobby's message", ev)
	}
	if n := srv.hub.Rooms(); n != 1 {
		t.Fatalf("%d rooms, want only lobby", n)
	}
	if srv.streams.fan.Has("elsewhere") {
		t.Fatal("a client's ?stream= made a topic")
	}
}

// A backlog carries no member list in its joins and leaves but ends with
// one members event, current, at the backlog's last id; live events that
// change the list carry it each time.
func TestBacklogEndsWithTheMemberList(t *testing.T) {
	eachProtocol(t, func(t *testing.T, start startServer) {
		srv := start(chat.Config{}, Config{})
		for _, name := range []string{"a", "b", "c", "d"} {
			srv.browser(t).join("lobby", name)
		}
		s := srv.browser(t).stream("/rooms/lobby/events?since=0", nil)
		evs := s.take(t, 4)
		for _, ev := range evs {
			if strings.Contains(ev.data, `id="members"`) {
				t.Fatalf("a backlog event carries the member list: %q", ev.data)
			}
		}
		list := s.nextList(t, 5*time.Second)
		if list.id != evs[3].id || strings.Count(list.data, `data-member=`) != 4 || !strings.Contains(list.data, `data-seq="4"`) {
			t.Fatalf("members event = %+v, want id %d, 4 members, seq 4", list, evs[3].id)
		}
		srv.browser(t).join("lobby", "e")
		if live := s.next(t, 5*time.Second); strings.Count(live.data, `id="members"`) != 1 || !strings.Contains(live.data, `data-seq="5"`) {
			t.Fatalf("a live join without the member list: %q", live.data)
		}
		// A stream with no resume point gets no list at the start.
		bare := srv.browser(t).stream("/rooms/lobby/events", nil)
		srv.browser(t).join("lobby", "f")
		if ev := bare.next(t, 5*time.Second); !strings.Contains(ev.data, "joined the room") {
			t.Fatalf("live-only stream: %+v", ev)
		}
		select {
		case l := <-bare.lists:
			t.Fatalf("a live-only stream got a member list at the start: %+v", l)
		default:
		}
	})
}

// A stream open while its room is dropped (every member gone, idle) and
// made again is sent a reset before the new life's first event: its place
// is gone, and the new ids are far past it.
func TestStreamThroughARoomsDropAndRebirth(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, chat.Config{RoomIdle: time.Minute, Now: clk.Now}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	s := srv.browser(t).stream("/rooms/lobby/events", nil)
	waitFor(t, 5*time.Second, "the stream", func() bool { return srv.hub.Readers("lobby") == 1 })
	alice.say("lobby", me, "first life")
	said := s.next(t, 5*time.Second)
	if status, _, _ := alice.post("/rooms/lobby/leave", url.Values{"m": {fmt.Sprint(me)}}, nil); status != http.StatusSeeOther {
		t.Fatalf("leave: %d", status)
	}
	left := s.next(t, 5*time.Second)
	clk.Add(time.Minute)
	if err := srv.hub.Sweep(); err != nil {
		t.Fatal(err)
	}
	if n := srv.hub.Rooms(); n != 0 {
		t.Fatalf("%d rooms: a watched room without members must still be dropped", n)
	}
	alice.join("lobby", "alice")
	r := s.next(t, 5*time.Second)
	if r.name != "reset" || r.id <= left.id {
		t.Fatalf("after the room's rebirth: %+v, want a reset past %d (last id %d)", r, left.id, said.id)
	}
	if ev := s.next(t, 5*time.Second); !strings.Contains(ev.data, "joined the room") || ev.id != r.id+1 {
		t.Fatalf("first event of the new life: %+v, want the join at %d", ev, r.id+1)
	}
}

// eightEvents fills a new room with eight events (alice's join and her
// messages m0…m6) on a server that keeps 5 per room, and returns the ids of
// the oldest kept event and the newest, with alice and her member.
func eightEvents(t *testing.T, srv *testServer, room string) (alice *browser, me, oldest, last uint64) {
	t.Helper()
	alice = srv.browser(t)
	me = alice.join(room, "alice")
	all := srv.browser(t).stream("/rooms/"+room+"/events?since=0", nil)
	for j := range 7 {
		alice.say(room, me, fmt.Sprint("m", j))
	}
	evs := all.take(t, 8)
	consecutive(t, evs, evs[0].id)
	return alice, me, evs[3].id, evs[7].id
}
