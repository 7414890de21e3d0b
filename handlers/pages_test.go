package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

func TestJoin(t *testing.T) {
	srv := newTestServer(t, chat.Config{MaxMembers: 3}, Config{})
	first := srv.browser(t)
	first.join("lobby", "Alice")

	tests := []struct {
		name, username, room string
		status               int
		fieldError           string // the id of the error shown next to a field
		reason               string
	}{
		{"taken, compared as a nickname", "ａｌｉｃｅ", "lobby", http.StatusConflict, "username-error", "taken"},
		{"empty name", "", "lobby", http.StatusBadRequest, "username-error", "1 to 32 characters"},
		{"bidi override", "bob\u202e", "lobby", http.StatusBadRequest, "username-error", "direction-changing"},
		{"bad room", "bob", "no spaces", http.StatusBadRequest, "room-error", "a-z"},
		{"empty room", "bob", "", http.StatusBadRequest, "room-error", "1 to 64"},
	}
	for _, tt := range tests {
		b := srv.browser(t)
		// A browser gets the form again; curl gets one line (TestErrorsAreOneLine).
		status, loc, body := b.post("/join", url.Values{"username": {tt.username}, "room": {tt.room}}, http.Header{"Accept": {"text/html"}})
		if status != tt.status || loc != "" || !strings.Contains(body, `id="`+tt.fieldError+`"`) || !strings.Contains(body, tt.reason) {
			t.Errorf("%s: %d %q; want %d with %s saying %q", tt.name, status, loc, tt.status, tt.fieldError, tt.reason)
		}
		// The form comes back filled in, escaped.
		if tt.username != "" && !strings.Contains(body, `value="`+tt.username+`"`) {
			t.Errorf("%s: the form lost the name", tt.name)
		}
	}

	// A good join: a 303 to the room and a session cookie fit for one.
	b := srv.browser(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/join", strings.NewReader("username=bob&room=Lobby"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/rooms/lobby?m=") {
		t.Fatalf("join = %d %q, want 303 to /rooms/lobby?m=", resp.StatusCode, loc)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies set, want 1", len(cookies))
	}
	c := cookies[0]
	if c.Name != sessionCookie || len(c.Value) != 32 || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
		t.Fatalf("cookie = %+v", c)
	}
	// A second join from the same browser keeps its cookie.
	if status, _, _ := b.post("/join", url.Values{"username": {"bob2"}, "room": {"lobby"}}, nil); status != http.StatusSeeOther {
		t.Fatalf("second join: %d", status)
	}
	if status, _, body := srv.browser(t).post("/join", url.Values{"username": {"carol"}, "room": {"lobby"}}, nil); status != http.StatusConflict || !strings.Contains(body, "full") {
		t.Fatalf("join a full room: %d", status)
	}
}

func TestRoomPage(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	alice.say("lobby", me, "<i>hello</i>\nworld")

	status, _, body := alice.get("/rooms/lobby?m="+strconv.FormatUint(me, 10), nil)
	if status != http.StatusOK {
		t.Fatalf("room page: %d", status)
	}
	for _, want := range []string{
		`role="log"`, `aria-live="polite"`,
		`&lt;i&gt;hello&lt;/i&gt;` + "\nworld",
		`class="msg own"`,
		`alice</span> joined the room`,
		`data-events="/rooms/lobby/events"`, `data-last="`,
		`<li class="member online me" data-member="` + strconv.FormatUint(me, 10) + `"`,
		`<label for="text"`,
		`action="/rooms/lobby/messages"`, `action="/rooms/lobby/leave"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("room page lacks %q", want)
		}
	}
	if strings.Contains(body, "<i>hello") {
		t.Error("message HTML is not escaped")
	}

	tests := []struct {
		name     string
		b        *browser
		path     string
		status   int
		location string
	}{
		{"no membership", srv.browser(t), "/rooms/lobby", http.StatusSeeOther, "/?room=lobby"},
		{"someone else's member", srv.browser(t), "/rooms/lobby?m=" + strconv.FormatUint(me, 10), http.StatusSeeOther, "/?room=lobby"},
		{"latest member without m", alice, "/rooms/lobby", http.StatusOK, ""},
		{"upper case is the same room", alice, "/rooms/LOBBY?m=1", http.StatusMovedPermanently, "/rooms/lobby?m=1"},
		{"bad room name", alice, "/rooms/a%20b", http.StatusBadRequest, ""},
		{"bad member", alice, "/rooms/lobby?m=x", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		status, loc, _ := tt.b.get(tt.path, nil)
		if status != tt.status || loc != tt.location {
			t.Errorf("%s: GET %s = %d %q, want %d %q", tt.name, tt.path, status, loc, tt.status, tt.location)
		}
	}

	// After leaving, the browser is offered its name again.
	if status, loc, _ := alice.post("/rooms/lobby/leave", url.Values{"m": {strconv.FormatUint(me, 10)}}, nil); status != http.StatusSeeOther || loc != "/" {
		t.Fatalf("leave = %d %q", status, loc)
	}
	if _, loc, _ := alice.get("/rooms/lobby?m="+strconv.FormatUint(me, 10), nil); loc != "/?room=lobby&username=alice" {
		t.Fatalf("after leaving, the room page sends to %q", loc)
	}
	if status, _, body := alice.get("/?room=lobby&username=alice", nil); status != http.StatusOK || !strings.Contains(body, `value="alice"`) || !strings.Contains(body, `value="lobby"`) {
		t.Fatalf("join page is not filled in: %d", status)
	}
}

func TestPostMessage(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	m := strconv.FormatUint(me, 10)
	htmx := http.Header{"Hx-Request": {"true"}}
	long := strings.Repeat("ü", chat.MaxTextLength+1)

	tests := []struct {
		name     string
		b        *browser
		form     url.Values
		header   http.Header
		status   int
		location string
		reason   string
	}{
		{"htmx", alice, url.Values{"text": {"hi"}, "m": {m}}, htmx, http.StatusNoContent, "", ""},
		{"plain form", alice, url.Values{"text": {"hi"}, "m": {m}}, nil, http.StatusSeeOther, "/rooms/lobby?m=" + m, ""},
		{"curl, no member given", alice, url.Values{"text": {"hi"}}, nil, http.StatusSeeOther, "/rooms/lobby", ""},
		{"empty", alice, url.Values{"text": {" \r\n "}, "m": {m}}, htmx, http.StatusBadRequest, "", "The message is empty."},
		{"control characters", alice, url.Values{"text": {"a\x00b"}, "m": {m}}, htmx, http.StatusBadRequest, "", "not valid text"},
		{"too long", alice, url.Values{"text": {long}, "m": {m}}, htmx, http.StatusRequestEntityTooLarge, "", "The message is 4,001 characters long; the limit is 4,000 (1 too many).\n"},
		{"body too large", alice, url.Values{"text": {strings.Repeat("x", 70000)}, "m": {m}}, htmx, http.StatusRequestEntityTooLarge, "", "larger than"},
		{"not a member", srv.browser(t), url.Values{"text": {"hi"}}, htmx, http.StatusForbidden, "", "not a member"},
		{"someone else's member", srv.browser(t), url.Values{"text": {"hi"}, "m": {m}}, htmx, http.StatusForbidden, "", "not a member"},
		{"bad member", alice, url.Values{"text": {"hi"}, "m": {"x"}}, htmx, http.StatusBadRequest, "", "member number"},
		{"cross-origin", alice, url.Values{"text": {"hi"}, "m": {m}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden, "", ""},
		{"cross-origin, old browser", alice, url.Values{"text": {"hi"}, "m": {m}}, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden, "", ""},
	}
	for _, tt := range tests {
		status, loc, body := tt.b.post("/rooms/lobby/messages", tt.form, tt.header)
		if status != tt.status || loc != tt.location || !strings.Contains(body, tt.reason) {
			t.Errorf("%s: %d %q %q; want %d %q %q", tt.name, status, loc, body, tt.status, tt.location, tt.reason)
		}
	}
	// A browser without htmx gets a page, curl and htmx plain text.
	_, _, body := srv.browser(t).post("/rooms/lobby/messages", url.Values{"text": {"hi"}}, http.Header{"Accept": {"text/html"}})
	if !strings.Contains(body, "<!doctype html>") || !strings.Contains(body, `href="/rooms/lobby"`) {
		t.Errorf("error page for a browser: %q", body)
	}
}

// Two tabs of one browser join under two names; each posts as its own.
func TestTwoTabsOneBrowser(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	b := srv.browser(t)
	one := b.join("lobby", "tab-one")
	two := b.join("lobby", "tab-two")
	s := srv.browser(t).stream("/rooms/lobby/events", nil)
	b.say("lobby", one, "from one")
	b.say("lobby", two, "from two")
	for _, want := range []string{"tab-one", "tab-two"} {
		ev := s.next(t, 5*time.Second)
		if !strings.Contains(ev.data, `<span class="author">`+want+`</span>`) {
			t.Errorf("message shows %q, want author %s", ev.data, want)
		}
	}
}

func TestPlainEndpoints(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	b := srv.browser(t)
	tests := []struct {
		path, contentType, contains string
		status                      int
	}{
		{"/healthz", "text/plain", "ok", http.StatusOK},
		{"/", "text/html", `<label for="username"`, http.StatusOK},
		{"/static/app.css", "text/css", "", http.StatusOK},
		{"/static/app.js", "text/javascript", "", http.StatusOK},
		{"/static/htmx-4.0.1.min.js", "text/javascript", "htmx", http.StatusOK},
		{"/static/favicon.svg", "image/svg+xml", "<svg", http.StatusOK},
		{"/favicon.ico", "", "", http.StatusMovedPermanently},
		{"/static/", "", "", http.StatusNotFound},
		{"/static/nope.js", "", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		resp, err := b.client.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) {
			t.Errorf("GET %s = %d %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self';") {
			t.Errorf("GET %s: CSP %q", tt.path, csp)
		}
		if tt.contains != "" {
			_, _, body := b.get(tt.path, nil)
			if !strings.Contains(body, tt.contains) {
				t.Errorf("GET %s lacks %q", tt.path, tt.contains)
			}
		}
	}
}

// A session id planted in a browser before it joins (session fixation) owns
// nothing afterwards: joining renews the id and moves the memberships.
func TestJoinRenewsSession(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	planted := strings.Repeat("ab", 16)
	u, _ := url.Parse(srv.URL)
	victim := srv.browser(t)
	victim.client.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: planted}})
	first := victim.join("lobby", "victim")
	second := victim.join("lobby", "victim-tab2")
	var now string
	for _, c := range victim.client.Jar.Cookies(u) {
		now = c.Value
	}
	if now == planted || len(now) != 32 {
		t.Fatalf("session after joining = %q, want a fresh id", now)
	}
	attacker := srv.browser(t)
	attacker.client.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: planted}})
	if status, _, _ := attacker.post("/rooms/lobby/messages", url.Values{"text": {"as you"}}, nil); status != http.StatusForbidden {
		t.Fatalf("posting with the planted id = %d, want 403", status)
	}
	// Both of the victim's members moved to the new id.
	victim.say("lobby", first, "one")
	victim.say("lobby", second, "two")
}

// The room page shows only the newest events; older ones are a history
// page away.
func TestRoomPageShowsTheNewestEvents(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	for i := range 60 {
		alice.say("lobby", me, fmt.Sprintf("message %d.", i))
	}
	status, _, body := alice.get("/rooms/lobby?m="+strconv.FormatUint(me, 10), nil)
	if status != http.StatusOK {
		t.Fatalf("room page: %d", status)
	}
	shown := strings.Count(body, `class="msg own"`)
	if shown != firstPage || !strings.Contains(body, "message 59.") || !strings.Contains(body, "message 10.") || strings.Contains(body, "message 9.") {
		t.Errorf("room page shows %d messages; want the newest %d, 10…59", shown, firstPage)
	}
	if strings.Contains(body, "joined the room") {
		t.Error("room page shows the join, which is older than the newest page")
	}
}
