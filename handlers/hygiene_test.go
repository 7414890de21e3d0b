package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/crypto"
)

// The access log has the status each request was answered with, whether a
// handler, its error or a middleware chose it.
func TestAccessLogStatus(t *testing.T) {
	var logs syncBuffer
	srv := newTestServer(t, chat.Config{}, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	alice, mallory := srv.browser(t), srv.browser(t)
	m := strconv.FormatUint(alice.join("lobby", "alice"), 10)
	mallory.join("lobby", "mallory")
	htmx := http.Header{"Hx-Request": {"true"}}
	page := http.Header{"Accept": {"text/html"}}

	tests := []struct {
		name   string
		b      *browser
		method string
		path   string
		form   url.Values
		header http.Header
		status int
	}{
		{"a forged sender", mallory, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}, "m": {m}}, htmx, http.StatusForbidden},
		{"empty text", alice, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {" "}, "m": {m}}, htmx, http.StatusBadRequest},
		{"text too long", alice, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {strings.Repeat("x", chat.MaxTextLength+1)}, "m": {m}}, htmx, http.StatusRequestEntityTooLarge},
		{"a bad message id", alice, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}, "m": {m}, "cid": {"a b"}}, htmx, http.StatusBadRequest},
		{"a name taken, by curl", srv.browser(t), http.MethodPost, "/join", url.Values{"username": {"alice"}, "room": {"lobby"}}, nil, http.StatusConflict},
		{"a name taken, by a browser", srv.browser(t), http.MethodPost, "/join", url.Values{"username": {"alice"}, "room": {"lobby"}}, page, http.StatusConflict},
		{"a cross-origin post", alice, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}, "m": {m}},
			http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"no such route", alice, http.MethodGet, "/nowhere", nil, nil, http.StatusNotFound},
		{"a method not allowed", alice, http.MethodPut, "/healthz", nil, nil, http.StatusMethodNotAllowed},
		{"a post", alice, http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {"hi"}, "m": {m}}, htmx, http.StatusNoContent},
		{"HEAD", alice, http.MethodHead, "/healthz", nil, nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "msg=request")
			req := formRequest(t, tt.method, srv.URL+tt.path, tt.form, tt.header)
			if status, _, body := tt.b.do(req); status != tt.status {
				t.Fatalf("%d %.100q, want %d", status, body, tt.status)
			}
			waitFor(t, 5*time.Second, "the request's log line", func() bool {
				return strings.Count(logs.String(), "msg=request") > before
			})
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			last := lines[len(lines)-1]
			want := fmt.Sprintf("method=%s path=%s status=%d ", tt.method, tt.path, tt.status)
			if !strings.Contains(last, want) {
				t.Errorf("the log line is\n%s\nwant it to say %q", last, want)
			}
		})
	}
}

// headers is what a test compares of two answers to the same request.
type headers struct {
	Status                                              int
	ContentType, CacheControl, Location, CSP, COOP, XFO string
}

func headersOf(resp *http.Response) headers {
	h := resp.Header
	return headers{resp.StatusCode, h.Get("Content-Type"), h.Get("Cache-Control"), h.Get("Location"),
		h.Get("Content-Security-Policy"), h.Get("Cross-Origin-Opener-Policy"), h.Get("X-Frame-Options")}
}

// HEAD is answered wherever GET is, with its status and headers and no
// body; every answer (here, to a loopback address) carries
// Cross-Origin-Opener-Policy.
func TestHeadLikeGet(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	alice.join("lobby", "alice")
	page := http.Header{"Accept": {"text/html"}}
	tests := []struct {
		path   string
		header http.Header
		status int
	}{
		{"/", page, http.StatusOK},
		{"/?room=lobby", page, http.StatusOK},
		{"/rooms/lobby", page, http.StatusOK},
		{"/rooms/elsewhere", page, http.StatusSeeOther},
		{"/rooms/LOBBY", page, http.StatusMovedPermanently},
		{"/rooms/lobby/messages", page, http.StatusOK},
		{"/rooms/lobby/messages", http.Header{"Hx-Request": {"true"}}, http.StatusOK},
		{"/rooms/lobby/messages", jsonAccept, http.StatusOK},
		{"/rooms/lobby/messages?limit=0", nil, http.StatusBadRequest},
		{"/rooms/nowhere/messages", nil, http.StatusNotFound},
		{"/rooms/lobby/events", nil, http.StatusOK},
		{"/rooms/lobby/events?format=json&since=0", nil, http.StatusOK},
		{"/rooms/lobby/events?format=nope", nil, http.StatusBadRequest},
		{"/rooms/lobby/events", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"/rooms/lobby/transcript.txt", nil, http.StatusOK},
		{"/rooms/lobby/transcript.json", nil, http.StatusOK},
		{"/rooms/nowhere/transcript.txt", nil, http.StatusNotFound},
		{"/healthz", nil, http.StatusOK},
		{"/static/app.js", nil, http.StatusOK},
		{"/static/" + "htmx-4.0.1.min.js", nil, http.StatusOK},
		{"/static/nope.js", nil, http.StatusNotFound},
		{"/favicon.ico", nil, http.StatusMovedPermanently},
		{"/nowhere", page, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.header.Get("Accept")+tt.header.Get("Hx-Request"), func(t *testing.T) {
			answer := func(method string) (headers, string) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel() // a stream's GET is cut once its head is read
				req, err := http.NewRequestWithContext(ctx, method, srv.URL+tt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tt.header {
					req.Header[k] = v
				}
				resp, err := alice.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body []byte
				if method == http.MethodHead {
					body, _ = io.ReadAll(resp.Body)
				}
				return headersOf(resp), string(body)
			}
			get, _ := answer(http.MethodGet)
			head, body := answer(http.MethodHead)
			if get.Status != tt.status {
				t.Errorf("GET: %d, want %d", get.Status, tt.status)
			}
			if diff := cmp.Diff(get, head); diff != "" {
				t.Errorf("HEAD differs from GET (-GET +HEAD):\n%s", diff)
			}
			if body != "" {
				t.Errorf("HEAD has a body: %.100q", body)
			}
			if get.COOP != "same-origin" {
				t.Errorf("Cross-Origin-Opener-Policy %q", get.COOP)
			}
		})
	}
}

// HEAD of a stream answers its head only: no reader is counted, no room is
// made, and the connection stays open for the next request.
func TestHeadStreamDoesNotStart(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	srv.browser(t).join("lobby", "alice")
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for _, path := range []string{"/rooms/lobby/events?since=0", "/rooms/nowhere-yet/events"} {
		fmt.Fprintf(conn, "HEAD %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
		if err != nil {
			t.Fatalf("HEAD %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Close {
			t.Errorf("HEAD %s = %d %q, close %v", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Close)
		}
	}
	// The same connection answers the next request: it was not taken over.
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET /healthz after the HEADs: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("GET /healthz after the HEADs = %d %q", resp.StatusCode, body)
	}
	if n := srv.hub.Readers("lobby"); n != 0 {
		t.Errorf("%d readers counted", n)
	}
	if n := srv.hub.Rooms(); n != 1 {
		t.Errorf("%d rooms; a HEAD made one", n)
	}
}

// A body that arrives more slowly than the server's ReadTimeout is a 408,
// in one line, and the connection is closed.
func TestSlowBody(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{}, func(s *http.Server) { s.ReadTimeout = 300 * time.Millisecond })
	tests := []struct {
		name, path string
		header     string
	}{
		{"a join", "/join", ""},
		{"a post, htmx", "/rooms/lobby/messages", "Hx-Request: true\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			// 100 bytes promised, 9 sent, and then nothing.
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\n%sContent-Length: 100\r\n\r\ntext=hell", tt.path, tt.header)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			resp.Body.Close()
			want := "The request's body arrived too slowly; send it again.\n"
			if resp.StatusCode != http.StatusRequestTimeout || string(body) != want || !resp.Close {
				t.Errorf("%d %q close %v; want 408 %q and the connection closed", resp.StatusCode, body, resp.Close, want)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("the connection is still open: %v", err)
			}
		})
	}
}

// Errors reach a client that did not ask for HTML as one line of text (or
// JSON, for JSON clients), /join's included; a browser navigating gets a page.
func TestErrorsAreOneLine(t *testing.T) {
	srv := newTestServer(t, chat.Config{MaxMembers: 2}, Config{})
	alice := srv.browser(t)
	m := strconv.FormatUint(alice.join("lobby", "alice"), 10)
	srv.browser(t).join("full", "one")
	srv.browser(t).join("full", "two")

	type client struct {
		name   string
		header http.Header
		kind   string // "line", "json" or "page"
	}
	clients := []client{
		{"curl", nil, "line"},
		{"curl, Accept */*", http.Header{"Accept": {"*/*"}}, "line"},
		{"htmx", http.Header{"Hx-Request": {"true"}, "Accept": {"text/html"}}, "line"},
		{"JSON", http.Header{"Accept": {"application/json"}}, "json"},
		{"a browser", http.Header{"Accept": {"text/html,application/xhtml+xml"}}, "page"},
	}
	tests := []struct {
		name   string
		method string
		path   string
		form   url.Values
		status int
	}{
		{"join: name taken", http.MethodPost, "/join", url.Values{"username": {"Alice"}, "room": {"lobby"}}, http.StatusConflict},
		{"join: room full", http.MethodPost, "/join", url.Values{"username": {"three"}, "room": {"full"}}, http.StatusConflict},
		{"join: bad room", http.MethodPost, "/join", url.Values{"username": {"bob"}, "room": {"no spaces"}}, http.StatusBadRequest},
		{"join: bad name", http.MethodPost, "/join", url.Values{"username": {""}, "room": {"lobby"}}, http.StatusBadRequest},
		{"post: too long", http.MethodPost, "/rooms/lobby/messages", url.Values{"text": {strings.Repeat("x", chat.MaxTextLength+1)}, "m": {m}}, http.StatusRequestEntityTooLarge},
		{"post: not a member", http.MethodPost, "/rooms/elsewhere/messages", url.Values{"text": {"hi"}}, http.StatusForbidden},
		{"history: no room", http.MethodGet, "/rooms/nowhere/messages", nil, http.StatusNotFound},
		{"stream: bad format", http.MethodGet, "/rooms/lobby/events?format=nope", nil, http.StatusBadRequest},
		{"no such route", http.MethodGet, "/nowhere", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		for _, cl := range clients {
			t.Run(tt.name+", "+cl.name, func(t *testing.T) {
				req := formRequest(t, tt.method, srv.URL+tt.path, tt.form, cl.header)
				resp, err := alice.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got, ct := string(b), resp.Header.Get("Content-Type")
				if resp.StatusCode != tt.status {
					t.Errorf("%d, want %d", resp.StatusCode, tt.status)
				}
				// Each names the request's id, as its X-Request-ID does.
				id := resp.Header.Get(requestIDHeader)
				if !saneRequestID(id) {
					t.Fatalf("X-Request-ID %q", id)
				}
				switch cl.kind {
				case "line":
					if !strings.HasPrefix(ct, "text/plain") || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, ". (request "+id+")\n") || strings.Contains(got, "<") {
						t.Errorf("%q %q, want one line of text ending with the request id %s", ct, got, id)
					}
				case "json":
					var e jsonError
					if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || e.RequestID != id || !strings.HasPrefix(ct, "application/json") {
						t.Errorf("%q %q, want a JSON error with request_id %s (%v)", ct, got, id, err)
					}
				case "page":
					if !strings.HasPrefix(ct, "text/html") || !strings.Contains(got, "<html") {
						t.Errorf("%q %.100q, want a page", ct, got)
					}
					// /join gives a browser its form again, the reason by the
					// field; any other error is the error page, with the id.
					if tt.path != "/join" && !strings.Contains(got, `<code class="request-id">`+id+"</code>") {
						t.Errorf("%.100q, want the error page showing the request id %s", got, id)
					}
				}
			})
		}
	}
}

// A handler that panics is answered 500, and the log says so, with the
// stack, on the request's logger.
func TestAccessLogPanic(t *testing.T) {
	var logs syncBuffer
	cfg := Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	streams := NewStreams(cfg)
	e := New(chat.NewHub(box, chat.Config{}, streams.Publish, nil), streams, cfg)
	e.GET("/boom", func(echo.Context) error { panic("boom") })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	waitFor(t, 5*time.Second, "the request's log line", func() bool {
		return strings.Contains(logs.String(), "method=GET path=/boom status=500 ")
	})
	// The panic and its stack are logged with the request's id.
	id := resp.Header.Get(requestIDHeader)
	if !strings.Contains(logs.String(), `msg="handler panicked" request_id=`+id+" err=boom stack=") {
		t.Errorf("no panic line with request_id=%s and the stack:\n%s", id, logs.String())
	}
}

// Cross-Origin-Opener-Policy is sent where browsers apply it, on origins
// they trust (HTTPS, loopback hosts), and not on plain http:// to another
// host, where Chromium ignores it and logs a console error for every page.
// HTTPS, and a proxy's word for it, is TestWhatCountsAsHTTPS's.
func TestCrossOriginOpenerPolicy(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	tests := []struct {
		host  string
		proto string // X-Forwarded-Proto, from a TLS proxy
		want  string
	}{
		{"localhost:5000", "", "same-origin"},
		{"LOCALHOST", "", "same-origin"},
		{"app.localhost:5000", "", "same-origin"},
		{"127.0.0.1:5000", "", "same-origin"},
		{"127.1.2.3", "", "same-origin"},
		{"[::1]:5000", "", "same-origin"},
		{"chat.example", "", ""},
		{"192.168.1.20:5000", "", ""},
		{"localhost.example", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host+" "+tt.proto, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Cross-Origin-Opener-Policy"); got != tt.want || resp.StatusCode != http.StatusOK {
				t.Errorf("%d, Cross-Origin-Opener-Policy %q, want %q", resp.StatusCode, got, tt.want)
			}
		})
	}
}

// formRequest makes a request with form as its urlencoded body (none if
// nil) and header's fields added.
func formRequest(t *testing.T, method, target string, form url.Values, header http.Header) *http.Request {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return req
}

// A log line gives a request's path, cut after maxLoggedPath bytes (at a
// rune's start) with its length said: the target may be as long as the
// header limit, and so would every line naming it be.
func TestLoggedPath(t *testing.T) {
	long := "/rooms/" + strings.Repeat("a", 300)
	runes := "/" + strings.Repeat("é", 200) // 401 bytes, é is 2
	tests := []struct{ path, want string }{
		{"", "/"},
		{"/rooms/lobby", "/rooms/lobby"},
		{long, long[:maxLoggedPath] + "…(307 bytes)"},
		{runes, runes[:maxLoggedPath-1] + "…(401 bytes)"},
	}
	for _, tt := range tests {
		r := &http.Request{URL: &url.URL{Path: tt.path}}
		if got := loggedPath(r); got != tt.want {
			t.Errorf("loggedPath(%.20q…) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
