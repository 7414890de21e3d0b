package handlers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
	"github.com/cloakroom/cloakroom/crypto"
)

// testServer is the real HTTP surface on a real TCP port.
type testServer struct {
	*httptest.Server
	hub     *chat.Hub
	streams *Streams
}

func newTestServer(t testing.TB, ccfg chat.Config, hcfg Config, configure ...func(*http.Server)) *testServer {
	t.Helper()
	return startTestServer(t, false, ccfg, hcfg, configure...)
}

// newHTTP2TestServer is newTestServer over TLS with HTTP/2, which its
// browsers speak.
func newHTTP2TestServer(t testing.TB, ccfg chat.Config, hcfg Config) *testServer {
	t.Helper()
	return startTestServer(t, true, ccfg, hcfg)
}

func startTestServer(t testing.TB, h2 bool, ccfg chat.Config, hcfg Config, configure ...func(*http.Server)) *testServer {
	t.Helper()
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	streams := NewStreams(hcfg)
	hub := chat.NewHub(box, ccfg, streams.Publish, nil)
	srv := httptest.NewUnstartedServer(New(hub, streams, hcfg))
	srv.Config.RegisterOnShutdown(streams.Close)
	for _, f := range configure {
		f(srv.Config)
	}
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		streams.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return &testServer{Server: srv, hub: hub, streams: streams}
}

// clock is a settable time source for the hub, so tests of timeouts need
// not wait for them.
type clock = chattest.Clock

func newClock() *clock { return chattest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)) }

// browser is one cookie jar: what the server knows as one browser.
type browser struct {
	t      testing.TB
	srv    *testServer
	client *http.Client
}

func (s *testServer) browser(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, srv: s, client: &http.Client{
		Transport:     s.Client().Transport, // plain, or TLS with HTTP/2
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// post sends a urlencoded form and returns the status, Location and body.
func (b *browser) post(path string, form url.Values, header http.Header) (int, string, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

func (b *browser) get(path string, header http.Header) (int, string, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) (int, string, string) {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), withoutRequestID(b.t, resp, string(body))
}

// join makes this browser a member of room and returns the member id.
func (b *browser) join(room, name string) uint64 {
	b.t.Helper()
	status, loc, body := b.post("/join", url.Values{"username": {name}, "room": {room}}, nil)
	if status != http.StatusSeeOther {
		b.t.Fatalf("join %s as %s: %d %s", room, name, status, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	id, err := strconv.ParseUint(u.Query().Get("m"), 10, 64)
	if err != nil {
		b.t.Fatalf("join redirected to %q, with no member id", loc)
	}
	return id
}

// say posts a message as an htmx request would.
func (b *browser) say(room string, member uint64, text string) {
	b.t.Helper()
	form := url.Values{"text": {text}}
	if member != 0 {
		form.Set("m", strconv.FormatUint(member, 10))
	}
	status, _, body := b.post("/rooms/"+room+"/messages", form, http.Header{"Hx-Request": {"true"}})
	if status != http.StatusNoContent {
		b.t.Fatalf("post to %s: %d %s", room, status, body)
	}
}

// sseEvent is one event as a strict reader of the wire format sees it.
type sseEvent struct {
	id   uint64
	name string
	data string
}

// stream reads a room's event stream in the background, checking the wire
// format strictly: only id, data and event fields and comments, LF line
// ends, a decimal id and non-empty data on every event.
type stream struct {
	resp     *http.Response
	events   chan sseEvent // history events and resets
	lists    chan sseEvent // member-list updates (event: members)
	comments chan string
	done     chan error // the reason reading stopped
	cancel   context.CancelFunc
}

func (b *browser) stream(path string, header http.Header) *stream {
	b.t.Helper()
	return b.streamThrough(path, header, nil)
}

// request starts a stream request and returns its response, whatever the
// status, and the function that ends it.
func (b *browser) request(path string, header http.Header) (*http.Response, context.CancelFunc) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := *b.client
	client.Timeout = 0
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		b.t.Fatal(err)
	}
	return resp, cancel
}

// streamThrough is stream with the response body read through wrap, to
// play a slow reader.
func (b *browser) streamThrough(path string, header http.Header, wrap func(io.Reader) io.Reader) *stream {
	b.t.Helper()
	resp, cancel := b.request(path, header)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		b.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		b.t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	var body io.Reader = resp.Body
	if wrap != nil {
		body = wrap(body)
	}
	s := &stream{resp: resp, events: make(chan sseEvent, 100000), lists: make(chan sseEvent, 1000), comments: make(chan string, 1000), done: make(chan error, 1), cancel: cancel}
	go s.read(body)
	b.t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

func (s *stream) read(body io.Reader) {
	r := bufio.NewReader(body)
	var ev sseEvent
	var hasID, hasData bool
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			s.done <- err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		if strings.ContainsRune(line, '\r') {
			s.done <- fmt.Errorf("line with a CR: %q", line)
			return
		}
		switch {
		case line == "":
			if !hasID && !hasData && ev.name == "" {
				continue // the end of a comment block
			}
			if !hasID || !hasData {
				s.done <- fmt.Errorf("event without id or data: %+v", ev)
				return
			}
			ev.data = strings.Join(data, "\n")
			if strings.TrimSpace(ev.data) == "" {
				s.done <- fmt.Errorf("event %d with empty data", ev.id)
				return
			}
			if ev.name == "members" {
				s.lists <- ev
			} else {
				s.events <- ev
			}
			ev, hasID, hasData, data = sseEvent{}, false, false, nil
		case strings.HasPrefix(line, ":"):
			s.comments <- line
		case strings.HasPrefix(line, "id: "):
			id, err := strconv.ParseUint(line[4:], 10, 64)
			if err != nil || hasID {
				s.done <- fmt.Errorf("bad or repeated id line %q", line)
				return
			}
			ev.id, hasID = id, true
		case strings.HasPrefix(line, "data: "):
			data, hasData = append(data, line[6:]), true
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		default:
			s.done <- fmt.Errorf("unexpected line %q", line)
			return
		}
	}
}

// next returns the next event, failing the test after timeout or if the
// stream breaks.
func (s *stream) next(t *testing.T, timeout time.Duration) sseEvent {
	t.Helper()
	ev, err := s.nextErr(timeout)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// nextList returns the next member-list update.
func (s *stream) nextList(t *testing.T, timeout time.Duration) sseEvent {
	t.Helper()
	select {
	case ev := <-s.lists:
		return ev
	case err := <-s.done:
		t.Fatalf("stream ended waiting for a member list: %v", err)
	case <-time.After(timeout):
		t.Fatalf("no member list within %v", timeout)
	}
	return sseEvent{}
}

// nextErr is next for goroutines other than the test's.
func (s *stream) nextErr(timeout time.Duration) (sseEvent, error) {
	select {
	case ev := <-s.events:
		return ev, nil
	case err := <-s.done:
		s.done <- err
		return sseEvent{}, fmt.Errorf("stream ended: %w", err)
	case <-time.After(timeout):
		return sseEvent{}, fmt.Errorf("no event within %v", timeout)
	}
}

// take returns the next n events.
func (s *stream) take(t *testing.T, n int) []sseEvent {
	t.Helper()
	out := make([]sseEvent, 0, n)
	for range n {
		out = append(out, s.next(t, 10*time.Second))
	}
	return out
}

func idsOf(evs []sseEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.id
	}
	return out
}

func consecutive(t *testing.T, evs []sseEvent, first uint64) {
	t.Helper()
	for i, e := range evs {
		if e.id != first+uint64(i) {
			t.Fatalf("event %d has id %d, want %d (ids %v)", i, e.id, first+uint64(i), idsOf(evs))
		}
	}
}

// textOf pulls a message's text out of its HTML fragment.
func textOf(data string) string {
	_, rest, ok := strings.Cut(data, `<p class="text" dir="auto">`)
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(rest, "</p>")
	return text
}

// session is the browser's session id, as the hub knows it.
func (b *browser) session() string {
	b.t.Helper()
	u, err := url.Parse(b.srv.URL)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	b.t.Fatal("the browser has no session cookie")
	return ""
}
