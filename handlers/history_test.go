package handlers

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

var htmxHeader = http.Header{"Hx-Request": {"true"}}

// historyRoom is a room whose history has overflowed what it keeps: kept
// are the ids from first to last, all messages "message N." by one member.
type historyRoom struct {
	srv         *testServer
	first, last uint64
}

func newHistoryRoom(t *testing.T, keep, messages int) historyRoom {
	t.Helper()
	srv := newTestServer(t, chat.Config{History: keep}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	for i := range messages {
		alice.say("lobby", me, fmt.Sprintf("message %d.", i))
	}
	p, err := srv.hub.History("lobby", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return historyRoom{srv: srv, first: p.Last - uint64(keep) + 1, last: p.Last}
}

var (
	entryIDs  = regexp.MustCompile(`<li id="e(\d+)"`)
	olderLink = regexp.MustCompile(`<li class="history-edge older"><a href="([^"]+)" hx-get="([^"]+)"`)
	startMark = `<li class="history-edge start">`
)

// entryIDsOf lists the ids of the log entries in an HTML body, in order.
func entryIDsOf(t *testing.T, body string) []uint64 {
	t.Helper()
	var ids []uint64
	for _, m := range entryIDs.FindAllStringSubmatch(body, -1) {
		id, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func idRange(from, to uint64) []uint64 {
	var ids []uint64
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

func TestHistoryRefusesBadRequests(t *testing.T) {
	r := newHistoryRoom(t, 100, 10)
	anyone := r.srv.browser(t)
	tests := []struct {
		name, path string
		status     int
		reason     string // the whole body, a sentence
	}{
		{"before is not a number", "/rooms/lobby/messages?before=ten", http.StatusBadRequest, "Before must be an event id (a decimal number)."},
		{"before is negative", "/rooms/lobby/messages?before=-1", http.StatusBadRequest, "Before must be an event id (a decimal number)."},
		{"before is a fraction", "/rooms/lobby/messages?before=1.5", http.StatusBadRequest, "Before must be an event id (a decimal number)."},
		{"limit 0", "/rooms/lobby/messages?limit=0", http.StatusBadRequest, "Limit must be a number from 1 to 200."},
		{"limit over the most", "/rooms/lobby/messages?limit=201", http.StatusBadRequest, "Limit must be a number from 1 to 200."},
		{"limit is not a number", "/rooms/lobby/messages?limit=all", http.StatusBadRequest, "Limit must be a number from 1 to 200."},
		{"limit is negative", "/rooms/lobby/messages?limit=-5", http.StatusBadRequest, "Limit must be a number from 1 to 200."},
		{"bad room name", "/rooms/no%20spaces/messages", http.StatusBadRequest, "Room names are 1 to 64 characters of a-z, 0-9, '-', '_' and '.'."},
		{"no such room", "/rooms/nowhere/messages", http.StatusNotFound, "No such room."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := anyone.get(tt.path, htmxHeader)
			if status != tt.status || body != tt.reason+"\n" {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, status, body, tt.status, tt.reason)
			}
		})
	}
}

// A fragment holds the entries before the id asked for, oldest first,
// after the element that loads the page before them, or, at the start of
// what the room keeps, the mark that says so. Anyone may read it.
func TestHistoryFragment(t *testing.T) {
	r := newHistoryRoom(t, 100, 150) // kept: 100 of the 151 events (a join and 150 messages)
	anyone := r.srv.browser(t)
	tests := []struct {
		name  string
		query string
		ids   []uint64
		older uint64 // the before= of the link to the page before, 0 for the start mark
	}{
		{"newest page by default", "", idRange(r.last-49, r.last), r.last - 49},
		{"before 0 is the newest", "?before=0&limit=10", idRange(r.last-9, r.last), r.last - 9},
		{"before the newest", fmt.Sprintf("?before=%d&limit=3", r.last), idRange(r.last-3, r.last-1), r.last - 3},
		{"the most at once", "?limit=200", idRange(r.first, r.last), 0},
		{"up to the start", fmt.Sprintf("?before=%d&limit=10", r.first+5), idRange(r.first, r.first+4), 0},
		{"exactly the start", fmt.Sprintf("?before=%d&limit=5", r.first+5), idRange(r.first, r.first+4), 0},
		{"one after the start", fmt.Sprintf("?before=%d&limit=4", r.first+5), idRange(r.first+1, r.first+4), r.first + 1},
		{"before what is kept", fmt.Sprintf("?before=%d", r.first), nil, 0},
		{"after the newest", fmt.Sprintf("?before=%d&limit=2", r.last+100), idRange(r.last-1, r.last), r.last - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := anyone.get("/rooms/lobby/messages"+tt.query, htmxHeader)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			if strings.Contains(body, "<html") {
				t.Errorf("an htmx request got a whole page")
			}
			if diff := cmp.Diff(tt.ids, entryIDsOf(t, body)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			m := olderLink.FindStringSubmatch(body)
			switch {
			case tt.older == 0 && (m != nil || !strings.HasPrefix(body, startMark)):
				t.Errorf("the fragment does not begin with the start mark:\n%.300s", body)
			case tt.older != 0 && (m == nil || !strings.HasPrefix(body, m[0])):
				t.Errorf("the fragment does not begin with the link to older entries:\n%.300s", body)
			case tt.older != 0:
				want := fmt.Sprintf("/rooms/lobby/messages?before=%d", tt.older)
				if got := html.UnescapeString(m[2]); got != want {
					t.Errorf("the older entries load from %s, want %s", got, want)
				}
			}
		})
	}
}

// Following each fragment's link to the page before it, from the newest,
// reaches the start of what the room keeps with every kept event exactly
// once: no gap and no overlap at the seams, whatever the page size.
func TestHistoryPagesHaveNoSeams(t *testing.T) {
	r := newHistoryRoom(t, 120, 300)
	anyone := r.srv.browser(t)
	for _, limit := range []int{1, 7, 50, 119, 120, 200} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var pages [][]uint64
			path := fmt.Sprintf("/rooms/lobby/messages?limit=%d", limit)
			for path != "" {
				if len(pages) > 200 {
					t.Fatalf("still paging after %d pages", len(pages))
				}
				status, _, body := anyone.get(path, htmxHeader)
				if status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, status, body)
				}
				pages = append(pages, entryIDsOf(t, body))
				path = ""
				if m := olderLink.FindStringSubmatch(body); m != nil {
					path = html.UnescapeString(m[2]) + fmt.Sprintf("&limit=%d", limit)
				}
			}
			var got []uint64
			for i := len(pages) - 1; i >= 0; i-- {
				got = append(got, pages[i]...)
			}
			if diff := cmp.Diff(idRange(r.first, r.last), got); diff != "" {
				t.Errorf("the pages put together (-want +got):\n%s", diff)
			}
		})
	}
}

// Without htmx the route is a page of its own, with links to the older and
// newer pages and back to the room, for a browser without script.
func TestHistoryPage(t *testing.T) {
	r := newHistoryRoom(t, 100, 150)
	alice := r.srv.browser(t)
	page := http.Header{"Accept": {"text/html"}}
	link := func(rel string, before uint64) string {
		return fmt.Sprintf(`<a href="/rooms/lobby/messages?before=%d&amp;limit=10" rel="%s">`, before, rel)
	}
	tests := []struct {
		name  string
		query string
		ids   []uint64
		has   []string
		lacks []string
	}{
		{
			"a page in the middle", fmt.Sprintf("?before=%d&limit=10", r.last-20),
			idRange(r.last-30, r.last-21),
			[]string{link("prev", r.last-30), link("next", r.last-10), `<a href="/rooms/lobby">Back to the room</a>`},
			[]string{startMark, "hx-get"},
		},
		{
			"the newer page ends with the newest", fmt.Sprintf("?before=%d&limit=10", r.last-5),
			idRange(r.last-15, r.last-6),
			[]string{link("prev", r.last-15), link("next", r.last+1)},
			[]string{startMark},
		},
		{
			"the newest page", "?limit=10",
			idRange(r.last-9, r.last),
			[]string{link("prev", r.last-9), `<a href="/rooms/lobby">Back to the room</a>`},
			[]string{`rel="next"`},
		},
		{
			"the first page", fmt.Sprintf("?before=%d&limit=10", r.first+10),
			idRange(r.first, r.first+9),
			[]string{startMark, link("next", r.first+20)},
			[]string{`rel="prev"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := alice.get("/rooms/lobby/messages"+tt.query, page)
			if status != http.StatusOK || !strings.HasPrefix(body, "<!doctype html>") {
				t.Fatalf("%d %.200s, want 200 and a whole page", status, body)
			}
			if diff := cmp.Diff(tt.ids, entryIDsOf(t, body)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			for _, s := range tt.has {
				if !strings.Contains(body, s) {
					t.Errorf("the page has no %s", s)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(body, s) {
					t.Errorf("the page has %s", s)
				}
			}
		})
	}

	// The member's own messages are marked as on the room page.
	me := alice.join("lobby", "bob")
	alice.say("lobby", me, "mine.")
	_, _, body := alice.get("/rooms/lobby/messages?limit=1", page)
	if !strings.Contains(body, `class="msg own"`) {
		t.Errorf("the page does not mark the reader's own message:\n%s", body)
	}
}

// The room page's log begins with the link to the page before its first
// entry, or with the start mark when it shows all that the room keeps.
func TestRoomPageHistoryEdge(t *testing.T) {
	tests := []struct {
		name     string
		messages int
		start    bool
	}{
		{"all the room keeps fits", 10, true},
		{"exactly a page", firstPage - 1, true},
		{"more than a page", firstPage, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, chat.Config{}, Config{})
			alice := srv.browser(t)
			me := alice.join("lobby", "alice")
			for i := range tt.messages {
				alice.say("lobby", me, fmt.Sprintf("message %d.", i))
			}
			status, _, body := alice.get("/rooms/lobby?m="+strconv.FormatUint(me, 10), nil)
			if status != http.StatusOK {
				t.Fatalf("room page: %d", status)
			}
			_, log, _ := strings.Cut(body, `<ol id="log"`)
			_, log, _ = strings.Cut(log, ">")
			ids := entryIDsOf(t, log)
			if len(ids) != min(tt.messages+1, firstPage) {
				t.Fatalf("the room page shows %d entries", len(ids))
			}
			if tt.start {
				if !strings.HasPrefix(log, startMark) {
					t.Errorf("the log does not begin with the start mark:\n%.300s", log)
				}
				return
			}
			m := olderLink.FindStringSubmatch(log)
			want := fmt.Sprintf("/rooms/lobby/messages?before=%d", ids[0])
			if m == nil || !strings.HasPrefix(log, m[0]) || html.UnescapeString(m[1]) != want || html.UnescapeString(m[2]) != want {
				t.Errorf("the log does not begin with a link to %s:\n%.300s", want, log)
			}
		})
	}
}
