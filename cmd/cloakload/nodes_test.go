package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Counters are summed by name over labels; other metrics, comments and
// timestamps are left out.
func TestParseCounters(t *testing.T) {
	text := `# HELP cloakroom_nats_append_conflicts_total Appends retried.
# TYPE cloakroom_nats_append_conflicts_total counter
cloakroom_nats_append_conflicts_total 7
cloakroom_nats_consumer_lag{room="a b}"} 2 1700000000
cloakroom_nats_consumer_lag{room="c"} 3
cloakroom_posts_total 100
`
	sums := map[string]float64{"cloakroom_nats_append_conflicts_total": 1}
	if err := parseCounters(strings.NewReader(text), "cloakroom_nats_", sums); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"cloakroom_nats_append_conflicts_total": 8, "cloakroom_nats_consumer_lag": 5}
	if diff := cmp.Diff(want, sums); diff != "" {
		t.Errorf("sums (-want +got):\n%s", diff)
	}
	if err := parseCounters(strings.NewReader("cloakroom_nats_x\n"), "cloakroom_nats_", map[string]float64{}); err == nil {
		t.Error("a sample without a value was accepted")
	}
}

// A post's reply gives the event's id.
func TestReplyID(t *testing.T) {
	for _, tt := range []struct {
		body string
		want uint64
		ok   bool
	}{
		{`{"id":1764545000000001}`, 1764545000000001, true},
		{`{"id": 42, "x": 1}`, 42, true},
		{`{"error":"no"}`, 0, false},
	} {
		t.Run(tt.body, func(t *testing.T) {
			got, err := replyID([]byte(tt.body))
			if got != tt.want || (err == nil) != tt.ok {
				t.Errorf("replyID = %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

// -post-urls, -read-urls and -procs are lists; the URLs default to -url.
func TestParseNodeFlags(t *testing.T) {
	c, _, err := parseFlags([]string{"-url", "http://a", "-read-urls", "http://b, http://c,", "-procs", "nats=7,n1=8", "-scenario", "resume"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Post, Read []string
		Procs      []namedPID
		Events     int
	}{c.postURLs, c.readURLs, c.procs, c.events}
	want := struct {
		Post, Read []string
		Procs      []namedPID
		Events     int
	}{[]string{"http://a"}, []string{"http://b", "http://c"}, []namedPID{{"nats", 7}, {"n1", 8}}, 1000}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(namedPID{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"nats", "nats=x", "=3", "n=-1"} {
		if _, _, err := parseFlags([]string{"-procs", bad}, io.Discard); err == nil {
			t.Errorf("-procs %q accepted", bad)
		}
	}
}

// A resume counts only a gap-free run of ids from the resume point to the
// newest, without a reset; the server must have been asked from the right
// point.
func TestResumeOnce(t *testing.T) {
	const from, to = 100, 104
	for _, tt := range []struct {
		name   string
		stream string
		ok     bool
	}{
		{"every id, with a presence event between", "id: 101\ndata: {}\n\ndata: {\"type\":\"presence\"}\n\nid: 102\ndata: {}\n\nid: 103\ndata: {}\n\nid: 104\ndata: {}\n\n", true},
		{"a gap", "id: 101\ndata: {}\n\nid: 103\ndata: {}\n\nid: 104\ndata: {}\n\n", false},
		{"a repeat", "id: 101\ndata: {}\n\nid: 101\ndata: {}\n\n", false},
		{"a reset", "event: reset\nid: 90\ndata: {}\n\n", false},
		{"the stream ends first", "id: 101\ndata: {}\n\n", false},
		{"a long data line", "id: 101\ndata: " + strings.Repeat("x", 100<<10) + "\n\nid: 102\n\nid: 103\n\nid: 104\n\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get("Last-Event-ID"); got != strconv.Itoa(from) {
					http.Error(w, "Last-Event-ID "+got, http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tt.stream)
			}))
			defer srv.Close()
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			took, err := resumeOnce(t.Context(), c, srv.URL+"/rooms/r/events", from, to)
			if (err == nil) != tt.ok {
				t.Fatalf("resumeOnce = %v, %v; want ok %v", took, err, tt.ok)
			}
			if err == nil && took <= 0 {
				t.Errorf("took %v", took)
			}
		})
	}
}
