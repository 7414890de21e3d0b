package handlers

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/limits"
)

// loopback is the client every test request comes from, unless it says
// otherwise.
var loopback = limits.Key(netip.MustParseAddr("127.0.0.1"))

// browserFrom is a browser whose connections come from another loopback
// address (127.0.0.2, say): to the server, another client.
func (s *testServer) browserFrom(t *testing.T, ip string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	probe, err := d.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Skipf("cannot connect from %s here: %v", ip, err)
	}
	probe.Close()
	transport := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	return &browser{t: t, srv: s, client: &http.Client{
		Transport:     transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// open starts a stream request and returns its response, whatever the
// status; the body is closed when the test ends.
func (b *browser) open(path string, header http.Header) *http.Response {
	b.t.Helper()
	resp, cancel := b.request(path, header)
	b.t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	return resp
}

// refusal is what a client is told past a limit.
type refusal struct {
	Status     int
	RetryAfter string
	Body       string
}

// slowDownLine is the plain-text refusal of a post or join, with the wait
// the response's Retry-After gives, which it must match.
func slowDownLine(what string, r refusal) string {
	return fmt.Sprintf("Slow down — you can %s again in %s s.\n", what, r.RetryAfter)
}

// retrySeconds reads a Retry-After and checks it is within (min, max].
func retrySeconds(t *testing.T, r refusal, min, max int) {
	t.Helper()
	n, err := strconv.Atoi(r.RetryAfter)
	if err != nil || n <= min || n > max {
		t.Errorf("Retry-After %q, want whole seconds in (%d, %d]", r.RetryAfter, min, max)
	}
}

// One client may hold Streams streams: the next is a 429, its streams go
// on working, another client's stream is not affected, and a stream that
// ends frees its place.
func TestClientStreamLimit(t *testing.T) {
	lim := limits.New(limits.Config{Streams: 3})
	srv := newTestServer(t, chat.Config{}, Config{Limits: lim})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")

	reader := srv.browser(t)
	var open []*stream
	for _, path := range []string{"/rooms/lobby/events", "/rooms/lobby/events?format=json", "/rooms/other/events"} {
		open = append(open, reader.stream(path, nil))
	}
	over := func(b *browser, header http.Header) refusal {
		resp := b.open("/rooms/lobby/events", header)
		var body strings.Builder
		if resp.StatusCode != http.StatusOK {
			_, _ = fmt.Fprint(&body, readAll(t, resp))
		}
		return refusal{resp.StatusCode, resp.Header.Get("Retry-After"), body.String()}
	}
	want := "Your address already has 3 event streams or transcript downloads open, the most one client may; close one and try again.\n"
	if diff := cmp.Diff(refusal{http.StatusTooManyRequests, "10", want}, over(reader, nil)); diff != "" {
		t.Errorf("the fourth stream (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(refusal{http.StatusTooManyRequests, "10", `{"error":"` + strings.TrimSuffix(want, "\n") + `"}` + "\n"},
		over(srv.browser(t), acceptJSON)); diff != "" {
		t.Errorf("a fifth, for a JSON client (-want +got):\n%s", diff)
	}
	// A transcript holds a place while it is written, so it is refused too;
	// its HEAD, which writes nothing, is not.
	if resp := reader.open("/rooms/lobby/transcript.txt", nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a transcript over the limit: %d, want 429", resp.StatusCode)
	} else {
		readAll(t, resp)
	}
	head, _ := http.NewRequest(http.MethodHead, srv.URL+"/rooms/lobby/transcript.txt", nil)
	if status, _, _ := reader.do(head); status != http.StatusOK {
		t.Errorf("HEAD of a transcript over the limit: %d, want 200", status)
	}
	// Another address is another client.
	if got := over(srv.browserFrom(t, "127.0.0.2"), nil); got.Status != http.StatusOK {
		t.Errorf("another client's stream: %+v, want 200", got)
	}

	alice.say("lobby", me, "still here")
	for i, s := range open[:2] {
		if ev := s.next(t, 5*time.Second); !strings.Contains(ev.data, "still here") {
			t.Errorf("stream %d after the refusal: %q", i, ev.data)
		}
	}
	open[0].close()
	waitFor(t, 5*time.Second, "the closed stream's place", func() bool { return lim.Streams(loopback) == 2 })
	if got := over(reader, nil); got.Status != http.StatusOK {
		t.Errorf("a stream after one closed: %+v, want 200", got)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return withoutRequestID(t, resp, b.String())
		}
	}
}

// Whichever way a stream ends, its client's count goes back down.
func TestClientStreamCountReleased(t *testing.T) {
	tests := []struct {
		name string
		h2   bool
		hcfg Config
		// open opens a stream that counts, and returns what ends it.
		open func(t *testing.T, srv *testServer) (end func())
	}{
		{
			name: "the client closes it (HTTP/1.1)",
			open: func(t *testing.T, srv *testServer) func() {
				return srv.browser(t).stream("/rooms/lobby/events", nil).close
			},
		},
		{
			name: "the client closes it (HTTP/2)",
			h2:   true,
			open: func(t *testing.T, srv *testServer) func() {
				s := srv.browser(t).stream("/rooms/lobby/events", nil)
				if s.resp.ProtoMajor != 2 {
					t.Fatalf("protocol %s, want HTTP/2", s.resp.Proto)
				}
				return s.close
			},
		},
		{
			name: "it is cut off for falling behind",
			hcfg: Config{MaxLag: 300 * time.Millisecond},
			open: func(t *testing.T, srv *testServer) func() {
				alice := srv.browser(t)
				me := alice.join("lobby", "alice")
				dialStream(t, srv, "/rooms/lobby/events", 4096) // and never read
				return func() {
					text := strings.Repeat("\U0001F600", chat.MaxTextLength)
					for srv.hub.Readers("lobby") > 0 {
						alice.say("lobby", me, text)
					}
				}
			},
		},
		{
			name: "the server shuts down",
			open: func(t *testing.T, srv *testServer) func() {
				srv.browser(t).stream("/rooms/lobby/events", nil)
				return srv.streams.Close
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := limits.New(limits.Config{Streams: 5})
			tt.hcfg.Limits = lim
			srv := startTestServer(t, tt.h2, chat.Config{}, tt.hcfg)
			end := tt.open(t, srv)
			waitFor(t, 5*time.Second, "the stream to be counted", func() bool { return lim.Streams(loopback) == 1 })
			waitFor(t, 5*time.Second, "the stream to be attached", func() bool { return srv.hub.Readers("lobby") == 1 })
			end()
			waitFor(t, 10*time.Second, "the stream's place to be freed", func() bool { return lim.Streams(loopback) == 0 })
		})
	}

	// A stream refused after it was counted (the server's own stream limit,
	// or its shutting down) is not counted.
	refused := []struct {
		name   string
		chat   chat.Config
		before func(srv *testServer)
		status int
	}{
		{"over the server's stream limit", chat.Config{MaxReaders: 1}, func(*testServer) {}, http.StatusServiceUnavailable},
		{"after shutdown", chat.Config{}, func(srv *testServer) { srv.streams.Close() }, http.StatusServiceUnavailable},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			lim := limits.New(limits.Config{Streams: 5})
			srv := newTestServer(t, tt.chat, Config{Limits: lim})
			b := srv.browser(t)
			if tt.chat.MaxReaders > 0 {
				b.stream("/rooms/lobby/events", nil)
				waitFor(t, 5*time.Second, "the first stream", func() bool { return lim.Streams(loopback) == 1 })
			}
			tt.before(srv)
			held := lim.Streams(loopback)
			if resp := b.open("/rooms/lobby/events", nil); resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := lim.Streams(loopback); got != held {
				t.Errorf("%d streams counted after the refusal, want %d", got, held)
			}
		})
	}
}

// Joins per client per minute: past them a 429 that says when to come
// back, in each client's form; another client is not affected.
func TestClientJoinLimit(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{Limits: limits.New(limits.Config{JoinsPerMinute: 2})})
	b := srv.browser(t)
	b.join("lobby", "alice")
	b.join("lobby", "bob")

	join := func(b *browser, header http.Header) refusal {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/join", strings.NewReader(url.Values{"username": {"carol"}, "room": {"lobby"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return refusal{resp.StatusCode, resp.Header.Get("Retry-After"), readAll(t, resp)}
	}

	curl := join(b, nil)
	retrySeconds(t, curl, 25, 30) // a join every 30 s
	if diff := cmp.Diff(refusal{http.StatusTooManyRequests, curl.RetryAfter, slowDownLine("join", curl)}, curl); diff != "" {
		t.Errorf("for curl (-want +got):\n%s", diff)
	}
	bot := join(b, acceptJSON)
	want := `{"error":"` + strings.TrimSuffix(slowDownLine("join", bot), "\n") + `"}` + "\n"
	if diff := cmp.Diff(refusal{http.StatusTooManyRequests, bot.RetryAfter, want}, bot); diff != "" {
		t.Errorf("for a bot (-want +got):\n%s", diff)
	}
	page := join(b, http.Header{"Accept": {"text/html"}})
	if line := strings.TrimSuffix(slowDownLine("join", page), "\n"); page.Status != http.StatusTooManyRequests || !strings.Contains(page.Body, line) {
		t.Errorf("for a browser: %d, want 429 and a page saying %q:\n%s", page.Status, line, page.Body)
	}
	if got := join(srv.browserFrom(t, "127.0.0.2"), nil); got.Status != http.StatusSeeOther {
		t.Errorf("another client's join: %+v, want 303", got)
	}
}

// Posts: each member's own bucket, and one for all the posts of a client.
// Past either, a 429 that says when, and the message is not published.
func TestClientPostLimits(t *testing.T) {
	slow := limits.Rate{PerSecond: 0.01, Burst: 2} // two at once, then one every 100 s
	tests := []struct {
		name   string
		cfg    limits.Config
		posts  []int // which of the browser's two members posts, in turn
		status []int
	}{
		{"per member", limits.Config{MemberPosts: slow}, []int{0, 0, 0, 1, 1, 1},
			[]int{204, 204, 429, 204, 204, 429}},
		{"per client", limits.Config{ClientPosts: slow}, []int{0, 1, 1, 0},
			[]int{204, 204, 429, 429}},
		{"both", limits.Config{MemberPosts: limits.Rate{PerSecond: 0.01, Burst: 3}, ClientPosts: limits.Rate{PerSecond: 0.01, Burst: 5}},
			[]int{0, 0, 0, 0, 1, 1, 1},
			[]int{204, 204, 204, 429, 204, 204, 429}},
		{"off", limits.Config{}, []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
			[]int{204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, chat.Config{}, Config{Limits: limits.New(tt.cfg)})
			b := srv.browser(t)
			members := []uint64{b.join("lobby", "alice"), b.join("lobby", "bob")}
			watch := srv.browser(t).stream("/rooms/lobby/events", nil)
			var got []int
			published := 0
			for i, who := range tt.posts {
				status, _, body := b.post("/rooms/lobby/messages", url.Values{"m": {fmt.Sprint(members[who])}, "text": {fmt.Sprint("message ", i)}},
					http.Header{"Hx-Request": {"true"}})
				got = append(got, status)
				if status == http.StatusNoContent {
					published++
				} else if !strings.HasPrefix(body, "Slow down — you can send again in ") {
					t.Errorf("post %d refused with %q", i, body)
				}
			}
			if diff := cmp.Diff(tt.status, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			// Only what was allowed was published: a last post from a
			// fresh client comes right after it.
			other := srv.browserFrom(t, "127.0.0.2")
			other.say("lobby", other.join("lobby", "carol"), "last")
			evs := watch.take(t, published+2) // and carol's join
			if last := evs[len(evs)-1]; !strings.Contains(last.data, ">last<") {
				t.Errorf("after %d posts allowed, the stream has %q", published, last.data)
			}
		})
	}
}

// A refused post answers each kind of client in its own form, with the
// same Retry-After, and the wait counts down.
func TestClientPostRefusals(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{Limits: limits.New(limits.Config{MemberPosts: limits.Rate{PerSecond: 0.01, Burst: 1}})})
	b := srv.browser(t)
	m := fmt.Sprint(b.join("lobby", "alice"))
	bot := joinAsBot(t, srv, "lobby", "robo")

	post := func(header http.Header, form url.Values) refusal {
		r := call(t, srv, http.MethodPost, "/rooms/lobby/messages", form, header)
		return refusal{r.status, r.header.Get("Retry-After"), r.body}
	}
	if got := post(bearer(bot.Token), url.Values{"text": {"one"}}); got.Status != http.StatusCreated {
		t.Fatalf("the bot's first post: %+v", got)
	}
	json := post(bearer(bot.Token), url.Values{"text": {"two"}})
	retrySeconds(t, json, 90, 100)
	want := `{"error":"` + strings.TrimSuffix(slowDownLine("send", json), "\n") + `"}` + "\n"
	if diff := cmp.Diff(refusal{http.StatusTooManyRequests, json.RetryAfter, want}, json); diff != "" {
		t.Errorf("for a bot (-want +got):\n%s", diff)
	}

	b.say("lobby", mustUint(t, m), "one")
	status, _, body := b.post("/rooms/lobby/messages", url.Values{"m": {m}, "text": {"two"}}, http.Header{"Hx-Request": {"true"}})
	if status != http.StatusTooManyRequests || !strings.HasPrefix(body, "Slow down — you can send again in ") {
		t.Errorf("for htmx: %d %q", status, body)
	}
	status, _, body = b.post("/rooms/lobby/messages", url.Values{"m": {m}, "text": {"two"}}, http.Header{"Accept": {"text/html"}})
	if status != http.StatusTooManyRequests || !strings.Contains(body, "Slow down — you can send again in ") {
		t.Errorf("for a browser without script: %d\n%s", status, body)
	}

	// Posting as someone else's member spends nothing of theirs: it is a
	// 403, checked before the member's bucket.
	if status, _, _ := srv.browser(t).post("/rooms/lobby/messages", url.Values{"m": {m}, "text": {"x"}}, nil); status != http.StatusForbidden {
		t.Errorf("a post as another browser's member: %d, want 403", status)
	}
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Through a trusted proxy, X-Forwarded-For (or X-Real-IP) names the
// client, IPv6 clients by their /64; from anyone else those headers change
// nothing.
func TestClientThroughProxy(t *testing.T) {
	type step struct {
		xff, realIP string
		status      int // of a join, one allowed per client
	}
	tests := []struct {
		name    string
		proxies string
		steps   []step
	}{
		{"a trusted proxy", "127.0.0.0/8", []step{
			{"203.0.113.5", "", http.StatusSeeOther},
			{"203.0.113.5", "", http.StatusTooManyRequests},
			{"198.51.100.1, 203.0.113.5", "", http.StatusTooManyRequests}, // what the client wrote itself is skipped
			{"203.0.113.6", "", http.StatusSeeOther},
			{"", "203.0.113.7", http.StatusSeeOther},
			{"", "203.0.113.7", http.StatusTooManyRequests},
			{"", "", http.StatusSeeOther}, // the proxy itself
		}},
		{"IPv6 through a trusted proxy", "127.0.0.1", []step{
			{"2001:db8:1:2::1", "", http.StatusSeeOther},
			{"2001:db8:1:2:ffff:ffff:ffff:ffff", "", http.StatusTooManyRequests}, // the same /64
			{"[2001:db8:1:2::3]:4431", "", http.StatusTooManyRequests},
			{"2001:db8:1:3::1", "", http.StatusSeeOther}, // the next /64
			{"", "2001:db8:1:3::2", http.StatusTooManyRequests},
		}},
		{"an untrusted peer", "10.0.0.0/8", []step{
			{"203.0.113.5", "", http.StatusSeeOther}, // counted as 127.0.0.1
			{"203.0.113.6", "", http.StatusTooManyRequests},
			{"", "203.0.113.7", http.StatusTooManyRequests},
			{"2001:db8:1:2::1", "", http.StatusTooManyRequests},
		}},
		{"no proxies", "", []step{
			{"203.0.113.5", "", http.StatusSeeOther},
			{"203.0.113.6", "", http.StatusTooManyRequests},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxies, err := limits.ParseProxies(tt.proxies)
			if err != nil {
				t.Fatal(err)
			}
			srv := newTestServer(t, chat.Config{MaxOwnNames: 100}, Config{
				Limits: limits.New(limits.Config{JoinsPerMinute: 1}), TrustedProxies: proxies,
			})
			var want, got []int
			for i, s := range tt.steps {
				header := http.Header{}
				if s.xff != "" {
					header.Set("X-Forwarded-For", s.xff)
				}
				if s.realIP != "" {
					header.Set("X-Real-IP", s.realIP)
				}
				status, _, _ := srv.browser(t).post("/join", url.Values{"username": {fmt.Sprint("user", i)}, "room": {"lobby"}}, header)
				want, got = append(want, s.status), append(got, status)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("join statuses, step by step (-want +got):\n%s", diff)
			}
		})
	}
}

// With every limit at 0, one client may do as much as it likes.
func TestClientLimitsOff(t *testing.T) {
	lim := limits.New(limits.Config{})
	srv := newTestServer(t, chat.Config{MaxOwnNames: 100}, Config{Limits: lim})
	b := srv.browser(t)
	var me uint64
	for i := range 40 {
		me = b.join("lobby", fmt.Sprint("name", i))
	}
	for i := range 40 {
		b.stream(fmt.Sprint("/rooms/room", i, "/events"), nil)
	}
	for i := range 100 {
		b.say("lobby", me, fmt.Sprint("message ", i))
	}
	if c, m := lim.Remembered(); c != 0 || m != 0 {
		t.Errorf("%d clients and %d members remembered with every limit off", c, m)
	}
}
