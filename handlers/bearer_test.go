package handlers

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

// reply is a response as a bot sees it.
type reply struct {
	status int
	header http.Header
	body   string
}

// call sends a request with no cookie jar, as a bot does; form may be nil.
func call(t *testing.T, srv *testServer, method, path string, form url.Values, header http.Header) reply {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, withoutRequestID(t, resp, string(b))}
}

var acceptJSON = http.Header{"Accept": {"application/json"}}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// joinAsBot joins a room through the JSON API and returns the answer.
func joinAsBot(t *testing.T, srv *testServer, room, name string) joined {
	t.Helper()
	r := call(t, srv, http.MethodPost, "/join", url.Values{"room": {room}, "username": {name}}, acceptJSON)
	if r.status != http.StatusCreated {
		t.Fatalf("bot join %s as %s: %d %s", room, name, r.status, r.body)
	}
	var j joined
	strictJSON(t, r.body, &j)
	return j
}

// strictJSON decodes body into v, refusing fields v does not have.
func strictJSON(t *testing.T, body string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// A bot joins with JSON, gets a token once, and posts, keeps itself present
// and leaves with it.
func TestBotJoinPostLeave(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	r := call(t, srv, http.MethodPost, "/join", url.Values{"room": {" Lobby "}, "username": {"Robo"}}, acceptJSON)
	if r.status != http.StatusCreated {
		t.Fatalf("join: %d %s", r.status, r.body)
	}
	var j joined
	strictJSON(t, r.body, &j)
	if len(j.Token) != 32 || !validSession(j.Token) {
		t.Errorf("token %q, want 32 hex digits (128 bits)", j.Token)
	}
	if diff := cmp.Diff(joined{Room: "lobby", Member: j.Member, Name: "Robo", Token: j.Token}, j); diff != "" || j.Member == 0 {
		t.Errorf("join answer (-want +got):\n%s", diff)
	}
	for _, h := range []string{"Location", "Set-Cookie"} {
		if v := r.header.Get(h); v != "" {
			t.Errorf("%s: %q on a bot's join", h, v)
		}
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store: the token is shown once", cc)
	}

	watch := srv.browser(t).stream("/rooms/lobby/events", nil)
	waitFor(t, 5*time.Second, "the watcher's stream", func() bool { return srv.hub.Readers("lobby") == 1 })
	r = call(t, srv, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"beep"}}, bearer(j.Token))
	if r.status != http.StatusCreated {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	var p posted
	strictJSON(t, r.body, &p)
	ev := watch.next(t, 5*time.Second)
	if ev.id != p.ID || textOf(ev.data) != "beep" || !strings.Contains(ev.data, "Robo") {
		t.Fatalf("event %+v, want Robo's beep at id %d", ev, p.ID)
	}

	r = call(t, srv, http.MethodPost, "/rooms/lobby/leave", url.Values{}, bearer(j.Token))
	if r.status != http.StatusNoContent {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	if ev := watch.next(t, 5*time.Second); !strings.Contains(ev.data, "left the room") {
		t.Fatalf("event after leave: %+v", ev)
	}
	if _, ok := srv.hub.Bearer(digestOf(j.Token)); ok {
		t.Error("the token outlived its member")
	}
}

// A stream with the bearer header keeps the bot present past the away
// timeout; without one the bot is removed, and its token with it.
func TestBotStreamPresence(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, chat.Config{AwayTimeout: time.Minute, Now: clk.Now}, Config{})
	kept := joinAsBot(t, srv, "lobby", "kept")
	dropped := joinAsBot(t, srv, "lobby", "dropped")
	srv.browser(t).stream("/rooms/lobby/events", bearer(kept.Token))
	waitFor(t, 5*time.Second, "the bot's stream", func() bool { return srv.hub.Readers("lobby") == 1 })
	clk.Add(2 * time.Minute)
	if err := srv.hub.Sweep(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"with a stream", kept.Token, http.StatusCreated},
		{"without", dropped.Token, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, srv, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"still here?"}}, bearer(tt.token))
			if r.status != tt.status {
				t.Errorf("post after the away timeout: %d %s, want %d", r.status, r.body, tt.status)
			}
		})
	}
}

// Tokens that are wrong, of another room, or of a member that is gone are
// refused on every route that takes one, with a JSON error.
func TestBearerRefused(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, chat.Config{AwayTimeout: time.Minute, Now: clk.Now}, Config{})
	left := joinAsBot(t, srv, "lobby", "left")
	if r := call(t, srv, http.MethodPost, "/rooms/lobby/leave", url.Values{}, bearer(left.Token)); r.status != http.StatusNoContent {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	away := joinAsBot(t, srv, "lobby", "away")
	clk.Add(2 * time.Minute)
	if err := srv.hub.Sweep(); err != nil {
		t.Fatal(err)
	}
	joinAsBot(t, srv, "lobby", "present") // the room stays
	other := joinAsBot(t, srv, "elsewhere", "bot")

	unknown, _ := newToken()
	invalid := `Bearer error="invalid_token"`
	tokens := []struct {
		name   string
		token  string
		status int
		auth   string
	}{
		{"unknown", unknown, http.StatusUnauthorized, invalid},
		{"malformed", "not-a-token", http.StatusUnauthorized, invalid},
		{"empty", "", http.StatusUnauthorized, invalid},
		{"another room's member", other.Token, http.StatusForbidden, `Bearer error="insufficient_scope"`},
		{"member left", left.Token, http.StatusUnauthorized, invalid},
		{"member removed when away", away.Token, http.StatusUnauthorized, invalid},
	}
	routes := []struct {
		method, path string
		form         url.Values
	}{
		{http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}}},
		{http.MethodPost, "/rooms/lobby/leave", url.Values{}},
		{http.MethodGet, "/rooms/lobby/events", nil},
	}
	for _, tk := range tokens {
		for _, rt := range routes {
			t.Run(tk.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				r := call(t, srv, rt.method, rt.path, rt.form, bearer(tk.token))
				if r.status != tk.status || r.header.Get("WWW-Authenticate") != tk.auth {
					t.Fatalf("%d, WWW-Authenticate %q; want %d, %q", r.status, r.header.Get("WWW-Authenticate"), tk.status, tk.auth)
				}
				var e jsonError
				strictJSON(t, r.body, &e)
				want := userMessage(errInvalidToken, tk.status)
				if tk.status == http.StatusForbidden {
					want = userMessage(errTokenRoom, tk.status)
				}
				if diff := cmp.Diff(jsonError{Error: want}, e); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
			})
		}
	}
	// The refusals changed nothing: the other room's bot is still there.
	if r := call(t, srv, http.MethodPost, "/rooms/elsewhere/messages", url.Values{"text": {"hi"}}, bearer(other.Token)); r.status != http.StatusCreated {
		t.Errorf("the other room's bot posting at home: %d %s", r.status, r.body)
	}
}

// JSON clients get errors as {"error", "field"} with the statuses browsers
// get.
func TestJSONErrors(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	bot := joinAsBot(t, srv, "lobby", "taken")
	long := strings.Repeat("a", chat.MaxTextLength+1)
	tests := []struct {
		name   string
		path   string
		form   url.Values
		header http.Header
		status int
		field  string
	}{
		{"bad room", "/join", url.Values{"room": {"no rooms here!"}, "username": {"bot"}}, acceptJSON, http.StatusBadRequest, "room"},
		{"bad name", "/join", url.Values{"room": {"lobby"}, "username": {""}}, acceptJSON, http.StatusBadRequest, "username"},
		{"name taken", "/join", url.Values{"room": {"lobby"}, "username": {"Taken"}}, acceptJSON, http.StatusConflict, "username"},
		{"empty message", "/rooms/lobby/messages", url.Values{"text": {"  "}}, bearer(bot.Token), http.StatusBadRequest, "text"},
		{"long message", "/rooms/lobby/messages", url.Values{"text": {long}}, bearer(bot.Token), http.StatusRequestEntityTooLarge, "text"},
		{"not a member", "/rooms/lobby/messages", url.Values{"text": {"hi"}}, acceptJSON, http.StatusForbidden, ""},
		{"bad room in path", "/rooms/NO!/messages", url.Values{"text": {"hi"}}, bearer(bot.Token), http.StatusBadRequest, "room"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, srv, http.MethodPost, tt.path, tt.form, tt.header)
			if r.status != tt.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tt.status)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			var e jsonError
			strictJSON(t, r.body, &e)
			if e.Field != tt.field || e.Error == "" || strings.HasPrefix(e.Error, "chat:") {
				t.Errorf("error %+v, want a sentence about field %q", e, tt.field)
			}
		})
	}
}

// A bearer request without a cookie carries no ambient credential, so it
// may come from another origin; with a cookie it is checked like any other.
func TestBearerCrossOrigin(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	bot := joinAsBot(t, srv, "lobby", "bot")
	tests := []struct {
		name   string
		header http.Header
		status int
	}{
		{"bearer, no cookie", http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusCreated},
		{"bearer and a cookie", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Cookie": {sessionCookie + "=" + strings.Repeat("0", 32)}}, http.StatusForbidden},
		{"bearer, old browser, cookie", http.Header{"Origin": {"https://evil.example"}, "Cookie": {"other=1"}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bearer(bot.Token)
			for k, v := range tt.header {
				h[k] = v
			}
			if r := call(t, srv, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}}, h); r.status != tt.status {
				t.Errorf("%d %s, want %d", r.status, r.body, tt.status)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Neither a token nor its digest reaches the log, whatever the request does
// with it.
func TestTokenNotLogged(t *testing.T) {
	var logs syncBuffer
	srv := newTestServer(t, chat.Config{}, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	bot := joinAsBot(t, srv, "lobby", "bot")
	other := joinAsBot(t, srv, "elsewhere", "bot")
	s := srv.browser(t).stream("/rooms/lobby/events", bearer(bot.Token))
	waitFor(t, 5*time.Second, "the bot's stream", func() bool { return srv.hub.Readers("lobby") == 1 })
	call(t, srv, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}}, bearer(bot.Token))
	call(t, srv, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}}, bearer(other.Token))
	call(t, srv, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}}, bearer(bot.Token+"x"))
	call(t, srv, http.MethodGet, "/rooms/elsewhere/events", nil, bearer(bot.Token))
	s.close()
	call(t, srv, http.MethodPost, "/rooms/lobby/leave", url.Values{}, bearer(bot.Token))
	call(t, srv, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}}, bearer(bot.Token))
	waitFor(t, 5*time.Second, "the stream's log line", func() bool {
		return strings.Count(logs.String(), "msg=request") >= 9
	})

	out := logs.String()
	for _, tk := range []string{bot.Token, other.Token} {
		d := digestOf(tk)
		for _, secret := range []string{tk, strings.ToUpper(tk), hex.EncodeToString(d[:])} {
			if strings.Contains(out, secret) {
				t.Fatalf("the log holds a token or its digest:\n%s", out)
			}
		}
	}
	for _, want := range []string{"status=201", "status=401", "status=403", "status=204"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log has no %s line; the test saw nothing:\n%s", want, out)
		}
	}
}
