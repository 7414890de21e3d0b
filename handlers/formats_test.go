package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

// wireJSON is every field a JSON event's data may have; decodeJSON refuses
// any other.
type wireJSON struct {
	ID     uint64 `json:"id"`
	Type   string `json:"type"`
	Room   string `json:"room"`
	Member *struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	} `json:"member"`
	Text    string `json:"text"`
	Time    string `json:"time"`
	Members []struct {
		ID    uint64 `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"members"`
	Seq     uint64 `json:"seq"`
	Message string `json:"message"`
}

// decodeJSON parses an event's data strictly: one line, one JSON object,
// known fields only, an RFC 3339 time if any, and the SSE id in "id".
func decodeJSON(t *testing.T, ev sseEvent) wireJSON {
	t.Helper()
	if strings.Contains(ev.data, "\n") {
		t.Fatalf("JSON data on more than one data: line: %q", ev.data)
	}
	dec := json.NewDecoder(strings.NewReader(ev.data))
	dec.DisallowUnknownFields()
	var w wireJSON
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("data %q: %v", ev.data, err)
	}
	if dec.More() {
		t.Fatalf("data %q holds more than one value", ev.data)
	}
	if w.Time != "" {
		if _, err := time.Parse(time.RFC3339, w.Time); err != nil {
			t.Fatalf("time %q: %v", w.Time, err)
		}
	}
	if w.ID != ev.id {
		t.Fatalf("data id %d in an event with id %d", w.ID, ev.id)
	}
	return w
}

// summary is what a test compares of an event in any format.
func summary(t *testing.T, format string, ev sseEvent) string {
	t.Helper()
	if format == "text" {
		return ev.name + "|" + ev.data
	}
	w := decodeJSON(t, ev)
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s %s", ev.name, w.Type, w.Room)
	if w.Member != nil {
		fmt.Fprintf(&b, " by %s", w.Member.Name)
	}
	if w.Text != "" {
		fmt.Fprintf(&b, " text=%q", w.Text)
	}
	if w.Time != "" {
		fmt.Fprintf(&b, " at %s", w.Time)
	}
	if w.Members != nil {
		b.WriteString(" members:")
		for _, m := range w.Members {
			fmt.Fprintf(&b, " %s(%s)", m.Name, m.State)
		}
	}
	if w.Message != "" {
		fmt.Fprintf(&b, " message=%q", w.Message)
	}
	return b.String()
}

// forged is a message that tries every way into another field or line.
const forged = "hi\nid: 99\r\ndata: {\"type\":\"reset\"}\revent: reset\n12:00 bob: give me your key\n\u2028</script>\"quoted\""

// forgedStored is forged as chat keeps it, CR and CRLF made LF.
var forgedStored = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(forged)

// Every event type, in each format, over a real server: the backlog's join
// and member list, a live join and leave with the roster, a message that
// tries to forge fields and lines, a presence change, and keepalives; each
// event parsed strictly.
func TestStreamFormats(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		header http.Header
		format string
		want   []string // events, then member lists, as summary shows them
	}{
		{"json", "?format=json", nil, "json", []string{
			"|join lobby by alice at 2026-11-27T12:00:00Z",
			"|join lobby by bob at 2026-11-27T12:00:00Z members: alice(online) bob(online)",
			"|message lobby by alice text=" + strconv.Quote(forgedStored) + " at 2026-11-27T12:00:00Z",
			"|leave lobby by bob at 2026-11-27T12:00:00Z members: alice(online)",
			"members|presence lobby members: alice(online)",
			"members|presence lobby members: alice(idle)",
		}},
		{"Accept: application/json", "", http.Header{"Accept": {"text/plain;q=0.5, application/json"}}, "json", nil},
		{"text", "?format=text", nil, "text", []string{
			"|12:00 * alice joined the room",
			"|12:00 * bob joined the room",
			"|12:00 alice: hi\n  id: 99\n  data: {\"type\":\"reset\"}\n  event: reset\n  12:00 bob: give me your key\n  \u2028</script>\"quoted\"",
			"|12:00 * bob left the room",
			"members|members: alice (online)",
			"members|members: alice (idle)",
		}},
	}
	tests[1].want = tests[0].want
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachProtocol(t, func(t *testing.T, start startServer) {
				clk := newClock()
				srv := start(chat.Config{PresenceDebounce: 2 * time.Second, Now: clk.Now}, Config{Heartbeat: 200 * time.Millisecond})
				alice, bob := srv.browser(t), srv.browser(t)
				me := alice.join("lobby", "alice")

				q := "?since=0"
				if tt.query != "" {
					q = tt.query + "&since=0"
				}
				s := srv.browser(t).stream("/rooms/lobby/events"+q, tt.header)
				var evs []sseEvent
				evs = append(evs, s.next(t, 5*time.Second))
				lists := []sseEvent{s.nextList(t, 5*time.Second)}

				bobID := bob.join("lobby", "bob")
				alice.say("lobby", me, forged)
				status, _, body := bob.post("/rooms/lobby/leave", url.Values{"m": {strconv.FormatUint(bobID, 10)}}, nil)
				if status != http.StatusSeeOther {
					t.Fatalf("leave: %d %s", status, body)
				}
				evs = append(evs, s.take(t, 3)...)
				consecutive(t, evs, evs[0].id)

				alice.stream("/rooms/lobby/events?m="+strconv.FormatUint(me, 10)+"&idle="+strconv.FormatUint(me, 10), nil)
				waitFor(t, 5*time.Second, "alice's hidden tab", func() bool { return srv.hub.Readers("lobby") == 2 })
				clk.Add(2 * time.Second)
				if err := srv.hub.Sweep(); err != nil {
					t.Fatal(err)
				}
				lists = append(lists, s.nextList(t, 5*time.Second))

				var got []string
				for _, ev := range append(evs, lists...) {
					got = append(got, summary(t, tt.format, ev))
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				// A member list takes the id of the newest event before it.
				if diff := cmp.Diff([]uint64{evs[0].id, evs[3].id}, idsOf(lists)); diff != "" {
					t.Errorf("member list ids (-want +got):\n%s", diff)
				}
				if tt.format == "json" {
					// Each roster carries a seq above the one before.
					var seqs []uint64
					for _, ev := range []sseEvent{lists[0], evs[1], evs[3], lists[1]} {
						seqs = append(seqs, decodeJSON(t, ev).Seq)
					}
					for i := 1; i < len(seqs); i++ {
						if seqs[i] <= seqs[i-1] {
							t.Errorf("seqs %v do not grow", seqs)
						}
					}
				}
				select {
				case <-s.comments:
				case <-time.After(5 * time.Second):
					t.Error("no keepalive")
				}
			})
		})
	}
}

// Resume with Last-Event-ID, and a reset, in each format: the same ids as
// the HTML stream, gap-free, then the member list, then live events.
func TestStreamFormatsResume(t *testing.T) {
	eachProtocol(t, func(t *testing.T, start startServer) {
		clk := newClock()
		srv := start(chat.Config{History: 5, Now: clk.Now}, Config{})
		id := func(n uint64) string { return strconv.FormatUint(n, 10) }
		tests := []struct {
			name     string
			format   string
			reset    bool
			wantText []string // what the events after any reset say
		}{
			{"json", "json", false, []string{"m5", "m6"}},
			{"text", "text", false, []string{"12:00 alice: m5", "12:00 alice: m6"}},
			{"json reset", "json", true, []string{"m2", "m3", "m4", "m5", "m6"}},
			{"text reset", "text", true, []string{"12:00 alice: m2", "12:00 alice: m3", "12:00 alice: m4", "12:00 alice: m5", "12:00 alice: m6"}},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				room := fmt.Sprint("room", i)
				alice, me, oldest, last := eightEvents(t, srv, room)
				since, first := last-2, last-1
				if tt.reset {
					since, first = 42, oldest
				}

				s := srv.browser(t).stream("/rooms/"+room+"/events?format="+tt.format, http.Header{"Last-Event-Id": {id(since)}})
				if tt.reset {
					r := s.next(t, 5*time.Second)
					if r.name != "reset" || r.id != first-1 {
						t.Fatalf("first event = %+v, want a reset with id %d", r, first-1)
					}
					if tt.format == "json" {
						got := decodeJSON(t, r)
						if got.Type != "reset" || got.Message != resetNotice {
							t.Fatalf("reset data %+v", got)
						}
					} else if r.data != resetNotice {
						t.Fatalf("reset data %q", r.data)
					}
				}
				got := s.take(t, len(tt.wantText))
				consecutive(t, got, first)
				var texts []string
				for _, ev := range got {
					if ev.name != "" {
						t.Fatalf("event %d is named %q", ev.id, ev.name)
					}
					if tt.format == "json" {
						texts = append(texts, decodeJSON(t, ev).Text)
					} else {
						texts = append(texts, ev.data)
					}
				}
				if diff := cmp.Diff(tt.wantText, texts); diff != "" {
					t.Errorf("backlog (-want +got):\n%s", diff)
				}
				if l := s.nextList(t, 5*time.Second); l.id != last {
					t.Errorf("members event at id %d, want %d", l.id, last)
				}
				// Then live events, with no gap and no repeat.
				alice.say(room, me, "live")
				if live := s.next(t, 5*time.Second); live.id != last+1 {
					t.Fatalf("live event = %+v, want id %d", live, last+1)
				}
			})
		}
	})
}

// An unknown format is refused with a reason; html may be asked for by name.
func TestStreamFormatRefused(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	b := srv.browser(t)
	for _, f := range []string{"xml", "JSON", "json,text"} {
		status, _, body := b.get("/rooms/lobby/events?format="+url.QueryEscape(f), nil)
		if status != http.StatusBadRequest || !strings.Contains(body, "Format must be html, json or text.") {
			t.Errorf("format=%s: %d %q, want 400 with a reason", f, status, body)
		}
	}
	s := b.stream("/rooms/lobby/events?format=html", nil)
	b.join("lobby", "alice")
	if ev := s.next(t, 5*time.Second); !strings.Contains(ev.data, `<li`) {
		t.Errorf("format=html sent %q", ev.data)
	}
}

// A format's topic exists only while a reader of it is connected (Publish
// renders no format nobody reads).
func TestStreamPerFormat(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, chat.Config{RoomIdle: time.Minute, Now: clk.Now}, Config{})
	b := srv.browser(t)
	s := b.stream("/rooms/lobby/events?format=text", nil)
	me := b.join("lobby", "alice")
	if ev := s.next(t, 5*time.Second); ev.data != "12:00 * alice joined the room" {
		t.Fatalf("event %+v", ev)
	}
	streams := func() map[string]bool {
		got := make(map[string]bool)
		for _, key := range []string{"lobby", "lobby/json", "lobby/text"} {
			got[key] = srv.streams.fan.Has(key)
		}
		return got
	}
	if diff := cmp.Diff(map[string]bool{"lobby": false, "lobby/json": false, "lobby/text": true}, streams()); diff != "" {
		t.Errorf("streams (-want +got):\n%s", diff)
	}

	s.close()
	waitFor(t, 5*time.Second, "the stream to close", func() bool { return srv.hub.Readers("lobby") == 0 })
	if diff := cmp.Diff(map[string]bool{"lobby": false, "lobby/json": false, "lobby/text": false}, streams()); diff != "" {
		t.Errorf("streams after the reader left (-want +got):\n%s", diff)
	}
	b.say("lobby", me, "nobody reads this")
}
