package metrics

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/cloakroom/cloakroom/fanout"
	"github.com/cloakroom/cloakroom/limits"
)

// scrape fetches url and parses it as the Prometheus text format, with
// the legacy (strictest) name rules.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// sample is one series of a family, as the tests compare it.
type sample struct {
	Type   string
	Labels string // name=value,… in the order the exposition has them
	Value  float64
}

// samples flattens the families whose names start with prefix.
func samples(fams map[string]*dto.MetricFamily, prefix string) map[string][]sample {
	out := make(map[string][]sample)
	for name, f := range fams {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			s := sample{Type: f.GetType().String(), Labels: strings.Join(labels, ",")}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.Value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.Value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.Value = float64(m.GetHistogram().GetSampleCount())
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// Every value of every source comes out under its name, type and labels;
// every family has help; the histograms count what they are told.
func TestExposition(t *testing.T) {
	m := New()
	err := m.Register(Sources{
		Chat: func() chat.Stats {
			return chat.Stats{Rooms: 1, Members: 2, Streams: 3, Joins: 4, Posts: 5, BacklogEvents: 6, BacklogResets: 7,
				RefusedStreams: 8, RefusedRooms: 9, RefusedMembers: 10, RefusedOwnNames: 11}
		},
		Streams: func() fanout.Stats {
			return fanout.Stats{Readers: 99, Delivered: 12, Placed: 13, Bytes: 14, CutLag: 15, CutRing: 16}
		},
		Limits: func() limits.Stats { return limits.Stats{Streams: 17, Joins: 18, MemberPosts: 19, ClientPosts: 20} },
		Crypto: func() crypto.Stats { return crypto.Stats{SealFailures: 21, OpenFailures: 22} },
	})
	if err != nil {
		t.Fatal(err)
	}
	m.ObservePost(300 * time.Microsecond)
	m.ObservePost(2 * time.Millisecond)
	m.ObserveStreamWrite(1)
	m.ObserveStreamWrite(1)
	m.ObserveStreamWrite(40)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv.URL)

	counter := func(v float64, labels string) sample { return sample{"COUNTER", labels, v} }
	gauge := func(v float64) sample { return sample{"GAUGE", "", v} }
	want := map[string][]sample{
		"cloakroom_rooms":                {gauge(1)},
		"cloakroom_members":              {gauge(2)},
		"cloakroom_streams_open":         {gauge(3)},
		"cloakroom_joins_total":          {counter(4, "")},
		"cloakroom_posts_total":          {counter(5, "")},
		"cloakroom_backlog_events_total": {counter(6, "")},
		"cloakroom_deliveries_total":     {counter(12, "")},
		"cloakroom_stream_bytes_total":   {counter(14, "")},
		"cloakroom_resets_total":         {counter(7+13, "")},
		"cloakroom_readers_cut_off_total": {
			counter(15, "cause=lag"), counter(16, "cause=overrun"),
		},
		"cloakroom_requests_refused_total": {
			counter(17, "limit=client-streams"), counter(18, "limit=client-joins"),
			counter(20, "limit=client-post-rate"), counter(11, "limit=max-own-names"),
			counter(10, "limit=max-members"), counter(9, "limit=max-rooms"),
			counter(8, "limit=max-streams"), counter(19, "limit=member-post-rate"),
		},
		"cloakroom_seal_failures_total":   {counter(21, "")},
		"cloakroom_open_failures_total":   {counter(22, "")},
		"cloakroom_post_duration_seconds": {{"HISTOGRAM", "", 2}},
		"cloakroom_stream_write_frames":   {{"HISTOGRAM", "", 3}},
	}
	// Sorted by label in the exposition; sorted the same here.
	byLabels := cmp.Transformer("sorted", func(s []sample) map[string]sample {
		out := make(map[string]sample)
		for _, x := range s {
			out[x.Labels] = x
		}
		return out
	})
	if diff := cmp.Diff(want, samples(fams, "cloakroom_"), byLabels); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}

	// Buckets: 300 µs is in 0.0005 and above, not 0.00025; 40 frames in
	// 64 and above, not 32.
	for _, tc := range []struct {
		family string
		le     float64
		count  uint64
	}{
		{"cloakroom_post_duration_seconds", .00025, 0},
		{"cloakroom_post_duration_seconds", .0005, 1},
		{"cloakroom_post_duration_seconds", .0025, 2},
		{"cloakroom_stream_write_frames", 1, 2},
		{"cloakroom_stream_write_frames", 32, 2},
		{"cloakroom_stream_write_frames", 64, 3},
	} {
		var got *uint64
		for _, b := range fams[tc.family].GetMetric()[0].GetHistogram().GetBucket() {
			if b.GetUpperBound() == tc.le {
				got = new(b.GetCumulativeCount())
			}
		}
		if got == nil || *got != tc.count {
			t.Errorf("%s bucket le=%v: %v, want %d", tc.family, tc.le, got, tc.count)
		}
	}

	// The Go runtime's and the process's collectors are there too.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

// Sources left out leave their metrics out; the rest still scrape.
func TestSourcesLeftOut(t *testing.T) {
	m := New()
	if err := m.Register(Sources{Crypto: func() crypto.Stats { return crypto.Stats{} }}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	got := samples(scrape(t, srv.URL), "cloakroom_")
	var names []string
	for name := range got {
		names = append(names, name)
	}
	want := []string{"cloakroom_open_failures_total", "cloakroom_post_duration_seconds", "cloakroom_seal_failures_total", "cloakroom_stream_write_frames"}
	if diff := cmp.Diff(want, names, cmp.Transformer("sort", sorted)); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

// The hooks run on the hot paths (every live write to every reader):
// they allocate nothing.
func TestHooksDoNotAllocate(t *testing.T) {
	m := New()
	if n := testing.AllocsPerRun(1000, func() { m.ObserveStreamWrite(3) }); n != 0 {
		t.Errorf("ObserveStreamWrite: %v allocations", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.ObservePost(time.Millisecond) }); n != 0 {
		t.Errorf("ObservePost: %v allocations", n)
	}
}
