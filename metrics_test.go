package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// startMetered runs Cloakroom on free ports of 127.0.0.1, with a metrics
// address of its own and any further flags, and returns the main and the
// metrics base URLs and its stop function (see startRun). beforeServing,
// if not nil, is called with the metrics base URL once the metrics address
// is up and before the main one serves: run waits for its "listening" line
// to be read, so the server is not yet ready.
func startMetered(t *testing.T, beforeServing func(metrics string), flags ...string) (base, metrics string, stop func() error) {
	t.Helper()
	st := startRun(t, startSpec{
		flags: append([]string{"--metrics-addr", "127.0.0.1:0"}, flags...),
		until: func(line string) bool {
			if rest, ok := strings.CutPrefix(line, "Metrics are served on "); ok {
				metrics = strings.TrimSuffix(rest, "/metrics")
				if beforeServing != nil {
					beforeServing(metrics)
				}
			}
			return strings.Contains(line, "listening on ")
		},
	})
	if metrics == "" {
		t.Fatalf("Cloakroom did not say where its metrics are:\n%s", st.stdout)
	}
	return st.base, metrics, st.stop
}

// exposition is one scrape: the text as served, and each series' value by
// key (see seriesKey); a histogram gives its _count and _sum.
type exposition struct {
	text   string
	series map[string]float64
}

// seriesKey names a series: its name, then its labels as {k=v,…} in the
// exposition's order, unquoted.
func seriesKey(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	return name + "{" + strings.Join(labels, ",") + "}"
}

// scrapeMetrics fetches base's /metrics and parses it with the Prometheus
// text parser, with the strictest (legacy) name rules.
func scrapeMetrics(t *testing.T, base string) exposition {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	x := exposition{text: string(body), series: make(map[string]float64)}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			switch {
			case m.Counter != nil:
				x.series[seriesKey(name, labels...)] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				x.series[seriesKey(name, labels...)] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				x.series[seriesKey(name+"_count", labels...)] = float64(m.GetHistogram().GetSampleCount())
				x.series[seriesKey(name+"_sum", labels...)] = m.GetHistogram().GetSampleSum()
			case m.Untyped != nil:
				x.series[seriesKey(name, labels...)] = m.GetUntyped().GetValue()
			}
		}
	}
	return x
}

// changes returns how the series named in keys moved from before to
// after, leaving out those that did not.
func changes(before, after exposition, keys []string) map[string]float64 {
	out := make(map[string]float64)
	for _, k := range keys {
		if d := after.series[k] - before.series[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// waitForChanges scrapes until the series in keys have moved from before by
// exactly want (nothing else among them moved), and returns the last
// scrape; after 15 s it fails the test with the difference.
func waitForChanges(t *testing.T, base string, before exposition, keys []string, want map[string]float64) exposition {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		after := scrapeMetrics(t, base)
		diff := cmp.Diff(want, changes(before, after, keys))
		if diff == "" {
			return after
		}
		if time.Now().After(deadline) {
			t.Fatalf("changes of the metrics (-want +got):\n%s", diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// joinBot joins room as a bot named name and returns its token.
func joinBot(t *testing.T, base, room, name string) string {
	t.Helper()
	status, body := send(t, nil, http.MethodPost, base+"/join", url.Values{"room": {room}, "username": {name}}, http.Header{"Accept": {"application/json"}})
	var joined struct{ Token string }
	if err := json.Unmarshal([]byte(body), &joined); err != nil || status != http.StatusCreated {
		t.Fatalf("join %s as %s: %d %s", room, name, status, body)
	}
	return joined.Token
}

// send makes a request (through client, or a new one with no cookies) and
// returns the status and body.
func send(t *testing.T, client *http.Client, method, target string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	req := newRequest(t, method, target, form, header)
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
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
	return resp.StatusCode, string(b)
}

// postAs posts text to room as the bot with token and returns the status.
func postAs(t *testing.T, base, room, token, text string) int {
	t.Helper()
	status, _ := send(t, nil, http.MethodPost, base+"/rooms/"+room+"/messages", url.Values{"text": {text}},
		http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/json"}})
	return status
}

// eventReader reads an event stream in the background and hands on the
// name of each event ("" for a history event) as it ends.
type eventReader struct {
	resp   *http.Response
	events chan string
}

// openEvents opens a stream of base's path; close it when done.
func openEvents(t *testing.T, base, path string, header http.Header) *eventReader {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := streamClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	r := &eventReader{resp: resp, events: make(chan string, 10000)}
	go func() {
		defer close(r.events)
		lines := bufio.NewScanner(resp.Body)
		name, any := "", false
		for lines.Scan() {
			switch line := lines.Text(); {
			case line == "" && any:
				r.events <- name
				name, any = "", false
			case strings.HasPrefix(line, "event: "):
				name, any = strings.TrimPrefix(line, "event: "), true
			case strings.HasPrefix(line, "id: "), strings.HasPrefix(line, "data: "):
				any = true
			}
		}
	}()
	return r
}

func (r *eventReader) close() { r.resp.Body.Close() }

// take waits for the next n events and returns their names.
func (r *eventReader) take(t *testing.T, n int) []string {
	t.Helper()
	var names []string
	for range n {
		select {
		case name, ok := <-r.events:
			if !ok {
				t.Fatalf("the stream ended after %v", names)
			}
			names = append(names, name)
		case <-time.After(15 * time.Second):
			t.Fatalf("no event after %v", names)
		}
	}
	return names
}

// dialStuck opens a stream over TCP with a 4 KiB receive buffer and never
// reads it: a reader that has stopped reading. Close it when done.
func dialStuck(t *testing.T, base, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
	return conn
}

// The counters move as members join and post, readers are sent events
// live and from history, are reset, and are cut off; the gauges follow
// rooms, members and open streams. Each step waits until the metrics have
// moved by exactly what it did.
func TestMetricsMove(t *testing.T) {
	base, metrics, _ := startMetered(t, nil, limitsOff...)
	cleanup := t.Cleanup // the test's, for what outlives a step
	const (
		rooms, members, open = "cloakroom_rooms", "cloakroom_members", "cloakroom_streams_open"
		joins, posts         = "cloakroom_joins_total", "cloakroom_posts_total"
		deliveries, backlog  = "cloakroom_deliveries_total", "cloakroom_backlog_events_total"
		resets, postCount    = "cloakroom_resets_total", "cloakroom_post_duration_seconds_count"
		framesSum, bytes     = "cloakroom_stream_write_frames_sum", "cloakroom_stream_bytes_total"
	)
	cutLag := seriesKey("cloakroom_readers_cut_off_total", "cause=lag")
	cutRing := seriesKey("cloakroom_readers_cut_off_total", "cause=overrun")
	tracked := []string{rooms, members, open, joins, posts, deliveries, backlog, resets, postCount, framesSum, cutLag, cutRing,
		"cloakroom_seal_failures_total", "cloakroom_open_failures_total"}
	for _, l := range []string{"client-streams", "client-joins", "member-post-rate", "client-post-rate", "max-streams", "max-rooms", "max-members", "max-own-names"} {
		tracked = append(tracked, seriesKey("cloakroom_requests_refused_total", "limit="+l))
	}

	var alice string
	var live *eventReader
	const canary = "canary-text-7f3a"
	stuckPosts := 0
	first := scrapeMetrics(t, metrics)
	steps := []struct {
		name string
		do   func(t *testing.T)
		want func() map[string]float64
		// loose are series this step moves by an amount it cannot know
		// (what a cut-off reader was sent before the cut).
		loose []string
	}{
		{"a bot joins", func(t *testing.T) { alice = joinBot(t, base, "lobby", "alice") },
			func() map[string]float64 { return map[string]float64{rooms: 1, members: 1, joins: 1} }, nil},
		// Its stream keeps it present: no change of presence to send.
		{"its stream, from the start", func(t *testing.T) {
			live = openEvents(t, base, "/rooms/lobby/events?since=0&format=text", http.Header{"Authorization": {"Bearer " + alice}})
			cleanup(live.close)
			if diff := cmp.Diff([]string{"", "members"}, live.take(t, 2)); diff != "" {
				t.Fatalf("backlog (-want +got):\n%s", diff)
			}
		}, func() map[string]float64 { return map[string]float64{open: 1, backlog: 1} }, nil},
		{"three posts", func(t *testing.T) {
			for i := range 3 {
				if status := postAs(t, base, "lobby", alice, fmt.Sprint(canary, " ", i)); status != http.StatusCreated {
					t.Fatalf("post: %d", status)
				}
			}
			live.take(t, 3)
		}, func() map[string]float64 {
			return map[string]float64{posts: 3, postCount: 3, deliveries: 3, framesSum: 3}
		}, nil},
		{"a reader resuming from an id not kept", func(t *testing.T) {
			r := openEvents(t, base, "/rooms/lobby/events", http.Header{"Last-Event-Id": {"1"}})
			if diff := cmp.Diff([]string{"reset", "", "", "", "", "members"}, r.take(t, 6)); diff != "" {
				t.Fatalf("backlog (-want +got):\n%s", diff)
			}
			r.close()
		}, func() map[string]float64 { return map[string]float64{backlog: 4, resets: 1} }, nil},
		{"a reader that stops reading is cut off", func(t *testing.T) {
			before := scrapeMetrics(t, metrics)
			stuck := dialStuck(t, base, "/rooms/lobby/events")
			cleanup(func() { stuck.Close() })
			waitForChanges(t, metrics, before, []string{open}, map[string]float64{open: 1})
			text := strings.Repeat("x", 4000)
			tick := time.NewTicker(20 * time.Millisecond) // 50 posts a second, as a busy room
			defer tick.Stop()
			for {
				if status := postAs(t, base, "lobby", alice, text); status != http.StatusCreated {
					t.Fatalf("post: %d", status)
				}
				stuckPosts++
				if stuckPosts%10 == 0 {
					now := scrapeMetrics(t, metrics)
					if now.series[cutLag]+now.series[cutRing] > before.series[cutLag]+before.series[cutRing] {
						break
					}
				}
				if stuckPosts > 3000 {
					t.Fatal("the stuck reader was not cut off in 3000 posts")
				}
				<-tick.C
			}
			t.Logf("cut off after %d posts", stuckPosts)
			live.take(t, stuckPosts)
		}, func() map[string]float64 {
			return map[string]float64{posts: float64(stuckPosts), postCount: float64(stuckPosts), cutLag: 1}
		}, []string{deliveries, framesSum}},
		// A stream that waits for a room, with a place in an earlier life
		// (it resumed from an id), is sent the reset that begins the new
		// one, live.
		{"a room begins a new life", func(t *testing.T) {
			before := scrapeMetrics(t, metrics)
			r := openEvents(t, base, "/rooms/later/events?since=5", nil)
			cleanup(r.close)
			waitForChanges(t, metrics, before, []string{open}, map[string]float64{open: 1})
			joinBot(t, base, "later", "bob")
			if diff := cmp.Diff([]string{"reset", ""}, r.take(t, 2)); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		}, func() map[string]float64 {
			return map[string]float64{open: 1, rooms: 1, members: 1, joins: 1, resets: 1}
		}, []string{deliveries, framesSum}}, // and bob's presence, once he counts as away
	}
	prev := first
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			before := scrapeMetrics(t, metrics)
			step.do(t)
			keys := slices.DeleteFunc(slices.Clone(tracked), func(k string) bool { return slices.Contains(step.loose, k) })
			prev = waitForChanges(t, metrics, before, keys, step.want())
		})
		if t.Failed() {
			return
		}
	}

	// What no step could count exactly: the live reader's events alone,
	// and their bytes, are a floor.
	moved := changes(first, prev, []string{deliveries, bytes, framesSum})
	if floor := float64(3 + stuckPosts); moved[deliveries] < floor || moved[framesSum] != moved[deliveries] {
		t.Errorf("deliveries %v and frames written %v; want equal, and at least %v", moved[deliveries], moved[framesSum], floor)
	}
	if floor := float64(4000 * stuckPosts); moved[bytes] < floor {
		t.Errorf("%v bytes streamed, want at least %v", moved[bytes], floor)
	}

	// No series names a room, a member, an address or what was said.
	for _, secret := range []string{"lobby", "later", "alice", "bob", "127.0.0.1", canary, alice} {
		if strings.Contains(prev.text, secret) {
			t.Errorf("the exposition contains %q", secret)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := prev.series[name]; !ok {
			t.Errorf("no %s: the Go or process collector is missing", name)
		}
	}
}

// Each limit's refusals count under its flag's name, and only there.
func TestMetricsCountRefusals(t *testing.T) {
	refused := func(limit string) string { return seriesKey("cloakroom_requests_refused_total", "limit="+limit) }
	var keys []string
	for _, l := range []string{"client-streams", "client-joins", "member-post-rate", "client-post-rate", "max-streams", "max-rooms", "max-members", "max-own-names"} {
		keys = append(keys, refused(l))
	}
	stream := func(t *testing.T, base string) int {
		t.Helper()
		resp, err := streamClient().Get(base + "/rooms/lobby/events")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp.StatusCode
	}
	join := func(t *testing.T, client *http.Client, base, room, name string) int {
		t.Helper()
		status, _ := send(t, client, http.MethodPost, base+"/join", url.Values{"room": {room}, "username": {name}}, nil)
		return status
	}
	tests := []struct {
		limit string
		flags []string
		// do ends with the request refused, and returns its status.
		do     func(t *testing.T, base string) int
		status int
	}{
		{"client-streams", []string{"--client-streams", "1"}, func(t *testing.T, base string) int {
			stream(t, base)
			return stream(t, base)
		}, http.StatusTooManyRequests},
		{"client-joins", []string{"--client-joins", "1"}, func(t *testing.T, base string) int {
			joinBot(t, base, "lobby", "alice")
			return join(t, nil, base, "lobby", "bob")
		}, http.StatusTooManyRequests},
		{"member-post-rate", []string{"--member-post-rate", "0.01", "--member-post-burst", "1"}, func(t *testing.T, base string) int {
			alice := joinBot(t, base, "lobby", "alice")
			postAs(t, base, "lobby", alice, "one")
			return postAs(t, base, "lobby", alice, "two")
		}, http.StatusTooManyRequests},
		{"client-post-rate", []string{"--client-post-rate", "0.01", "--client-post-burst", "1"}, func(t *testing.T, base string) int {
			postAs(t, base, "lobby", joinBot(t, base, "lobby", "alice"), "one")
			return postAs(t, base, "lobby", joinBot(t, base, "lobby", "bob"), "two")
		}, http.StatusTooManyRequests},
		{"max-streams", []string{"--max-streams", "1"}, func(t *testing.T, base string) int {
			stream(t, base)
			return stream(t, base)
		}, http.StatusServiceUnavailable},
		{"max-rooms", []string{"--max-rooms", "1"}, func(t *testing.T, base string) int {
			joinBot(t, base, "lobby", "alice")
			return join(t, nil, base, "elsewhere", "alice")
		}, http.StatusServiceUnavailable},
		{"max-members", []string{"--max-members", "1"}, func(t *testing.T, base string) int {
			joinBot(t, base, "lobby", "alice")
			return join(t, nil, base, "lobby", "bob")
		}, http.StatusConflict},
		{"max-own-names", []string{"--max-own-names", "1"}, func(t *testing.T, base string) int {
			jar, err := cookiejar.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
			join(t, browser, base, "lobby", "alice")
			return join(t, browser, base, "lobby", "alicia")
		}, http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			// Every other limit off, so only this one can refuse; no drain,
			// which only this test's own requests would see.
			flags := slices.Concat(limitsOff, []string{"--shutdown-drain", "0"}, tt.flags)
			base, metrics, _ := startMetered(t, nil, flags...)
			before := scrapeMetrics(t, metrics)
			if status := tt.do(t, base); status != tt.status {
				t.Fatalf("the last request: %d, want %d", status, tt.status)
			}
			waitForChanges(t, metrics, before, keys, map[string]float64{refused(tt.limit): 1})
		})
	}
}

// /readyz says 503 until the server serves and from the start of its
// shutdown on, on the metrics address and (while it answers) the main
// one; /healthz says only that the process answers. The metrics address
// serves to the end of the shutdown, then closes.
func TestReadyz(t *testing.T) {
	get := func(t *testing.T, target string) reply {
		t.Helper()
		resp, err := http.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return reply{resp.StatusCode, string(body)}
	}
	notReady, ready := reply{http.StatusServiceUnavailable, "not ready"}, reply{http.StatusOK, "ready"}
	// waitFor polls target until it answers want.
	waitFor := func(t *testing.T, target string, want reply) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for got := get(t, target); got != want; got = get(t, target) {
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v, want %v", target, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	var early []reply
	base, metrics, stop := startMetered(t, func(metrics string) {
		early = []reply{get(t, metrics+"/readyz"), {get(t, metrics+"/metrics").Status, ""}}
	}, "--shutdown-drain", "3s")
	if diff := cmp.Diff([]reply{notReady, {Status: http.StatusOK}}, early); diff != "" {
		t.Errorf("before serving: /readyz, /metrics (-want +got):\n%s", diff)
	}
	waitFor(t, metrics+"/readyz", ready)
	serving := []reply{get(t, base+"/readyz"), get(t, base+"/healthz")}
	if diff := cmp.Diff([]reply{ready, {http.StatusOK, "ok"}}, serving); diff != "" {
		t.Errorf("serving: /readyz, /healthz (-want +got):\n%s", diff)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	waitFor(t, metrics+"/readyz", notReady)
	// The drain answers everything on the main address with 503.
	draining := []int{get(t, base+"/readyz").Status, get(t, base+"/healthz").Status, get(t, metrics+"/metrics").Status}
	if diff := cmp.Diff([]int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK}, draining); diff != "" {
		t.Errorf("draining: main /readyz, main /healthz, /metrics (-want +got):\n%s", diff)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run: %v", err)
	}
	if resp, err := http.Get(metrics + "/readyz"); err == nil {
		resp.Body.Close()
		t.Errorf("the metrics address still answers after the shutdown: %s", resp.Status)
	}
}

// reply is a status and a body.
type reply struct {
	Status int
	Body   string
}

// The metrics are on the main address when --metrics-addr is the same
// (but for port 0, which asks for a free port of its own).
func TestSameAddr(t *testing.T) {
	tests := []struct {
		metrics, addr string
		same          bool
	}{
		{"localhost:5000", "localhost:5000", true},
		{":9100", ":9100", true},
		{"localhost:9100", "localhost:5000", false},
		{"127.0.0.1:5000", "localhost:5000", false}, // two listeners; the second fails to start
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{":0", ":0", false},
	}
	for _, tt := range tests {
		t.Run(tt.metrics+" "+tt.addr, func(t *testing.T) {
			if got := sameAddr(tt.metrics, tt.addr); got != tt.same {
				t.Errorf("sameAddr = %v, want %v", got, tt.same)
			}
		})
	}
}

// --metrics-addr comes from the flag or the environment; without either
// there are no metrics.
func TestParseMetricsAddr(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"off by default", nil, nil, ""},
		{"flag", []string{"--metrics-addr", "localhost:9100"}, nil, "localhost:9100"},
		{"environment", nil, map[string]string{"CLOAKROOM_METRICS_ADDR": ":9100"}, ":9100"},
		{"a flag beats the environment", []string{"--metrics-addr", "localhost:9101"}, map[string]string{"CLOAKROOM_METRICS_ADDR": ":9100"}, "localhost:9101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.metricsAddr != tt.want {
				t.Errorf("metrics address %q, want %q", o.metricsAddr, tt.want)
			}
		})
	}
}
