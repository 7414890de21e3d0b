package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSpreadAndRatio(t *testing.T) {
	for _, tt := range []struct {
		name      string
		a, b      []float64
		wantA     string
		wantRatio string
	}{
		{"odd count", []float64{3, 1, 2}, []float64{4}, "2 [1–3]", "0.50"},
		{"even count takes the mean of the middle two", []float64{10, 40, 20, 30}, []float64{10, 10}, "25 [10–40]", "2.50"},
		{"large figures", []float64{199000, 201000, 200500}, []float64{100000}, "200500 [199000–201000]", "2.00"},
		{"none", nil, []float64{1}, "—", "—"},
		{"divide by zero", []float64{1}, []float64{0}, "1", "—"},
		{"never cut", []float64{math.Inf(1)}, []float64{3.6}, "not cut", "—"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := spreadOf(tt.a), spreadOf(tt.b)
			if got := a.String(); got != tt.wantA {
				t.Errorf("spread = %q, want %q", got, tt.wantA)
			}
			if got := ratio(a, b); got != tt.wantRatio {
				t.Errorf("ratio = %q, want %q", got, tt.wantRatio)
			}
		})
	}
}

// The summary reads -json lines back, leaves void and failed runs out of
// the medians and counts them.
func TestSummary(t *testing.T) {
	lines := strings.Join([]string{
		`{"target":"cloakroom","scenario":"posts","kind":"posts","params":{"conns":32,"size":300,"duration_s":20},"posts":{"posts_per_s":100},"generator":{"cpu_pct":40}}`,
		`{"target":"centrifugo","scenario":"posts","kind":"posts","params":{"conns":32,"size":300,"duration_s":20},"posts":{"posts_per_s":50},"generator":{"cpu_pct":40}}`,
		``,
		`{"target":"cloakroom","scenario":"posts","kind":"posts","params":{},"posts":{"posts_per_s":300},"generator":{"cpu_pct":40}}`,
		`{"target":"cloakroom","scenario":"posts","kind":"posts","params":{},"void":true,"posts":{"posts_per_s":9999},"generator":{"cpu_pct":90}}`,
		`{"target":"centrifugo","scenario":"posts","kind":"posts","params":{},"error":"connect: refused","generator":{}}`,
	}, "\n")
	runs, err := readResults(strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeSummary(&out, runs)
	var got []string
	for line := range strings.Lines(out.String()) {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	want := []string{
		"",
		"== posts (posts into a room nobody reads, 32 connections, 300 B, 20s)",
		"cloakroom: 3 runs, 2 valid, 1 void, 0 failed",
		"centrifugo: 2 runs, 1 valid, 0 void, 1 failed",
		"figure cloakroom centrifugo ratio",
		"posts/s 200 [100–300] 50 4.00",
		"post latency p99 (ms) 0 [0–0] 0 —",
		"failed posts 0 [0–0] 0 —",
		"server CPU µs/post — — —",
		"write syscalls/post — — —",
		"generator CPU (%) 40 [40–40] 40 1.00",
		"other processes' CPU (% of a core) — — —",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if _, err := readResults(strings.NewReader("{not json")); err == nil {
		t.Error("a malformed line was read")
	}
}

// A server whose every run is void shows them, marked.
func TestSummaryOnlyVoid(t *testing.T) {
	runs, err := readResults(strings.NewReader(
		`{"target":"cloakroom","scenario":"posts","kind":"posts","params":{"conns":32,"size":300,"duration_s":5},"void":true,"posts":{"posts_per_s":900},"generator":{"cpu_pct":90}}` + "\n" +
			`{"target":"centrifugo","scenario":"posts","kind":"posts","params":{},"posts":{"posts_per_s":300},"generator":{"cpu_pct":40}}`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeSummary(&out, runs)
	for _, want := range []string{"posts/s 900 (void) 300 3.00", "(void): from void runs only"} {
		found := false
		for line := range strings.Lines(out.String()) {
			if strings.Contains(strings.Join(strings.Fields(line), " "), want) {
				found = true
			}
		}
		if !found {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    result
		want string
	}{
		{"rooms", result{Kind: kindStreams, Params: params{Rooms: 100, Readers: 1000, Rate: 2000, Size: 300, WarmupS: 5, DurationS: 20}},
			"100 rooms, 1000 readers, 2000 msg/s, 300 B, warm-up 5s, window 20s"},
		{"stuck", result{Kind: kindStuck, Params: params{Rooms: 1, Readers: 1, Frozen: 1, RcvBuf: 4096, Rate: 20, Size: 300, WarmupS: 5, DurationS: 30}},
			"1 room, 1 reader, 20 msg/s, 300 B, warm-up 5s, a cut awaited up to 30s, 1 frozen reader with SO_RCVBUF 4096"},
		{"idle", result{Kind: kindIdle, Params: params{Rooms: 10, Readers: 5000, SettleS: 5}}, "5000 idle streams over 10 rooms, settle 5s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(&tt.r); got != tt.want {
				t.Errorf("describe = %q, want %q", got, tt.want)
			}
		})
	}
}

// A scenario only Cloakroom ran (several nodes) has one column, and only
// the figures its runs have.
func TestSummaryCloakroomAlone(t *testing.T) {
	lines := `{"target":"cloakroom","scenario":"resume-3nodes","kind":"resume","params":{"events":1000,"tries":50,"read_nodes":2},"resume":{"events":1000,"tries":50,"ok":50,"cold_ms":20,"latency_ms":{"p50":15,"p90":17,"max":30}},"procs":[{"name":"nats","rss_mib":30}],"generator":{}}`
	runs, err := readResults(strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeSummary(&out, runs)
	var got []string
	for line := range strings.Lines(out.String()) {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	want := []string{
		"",
		"== resume-3nodes (50 readers resuming 1000 events one after another over 2 nodes)",
		"cloakroom: 1 runs, 1 valid, 0 void, 0 failed",
		"figure cloakroom",
		"resume p50 (ms) 15",
		"resume p90 (ms) 17",
		"resume max (ms) 30",
		"first resume (ms) 20",
		"failed resumes 0",
		"nats CPU (%) 0",
		"nats RSS (MiB) 30",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}
