package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// readResults reads -json lines, skipping blank ones.
func readResults(r io.Reader) ([]result, error) {
	var runs []result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var res result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		runs = append(runs, res)
	}
	return runs, sc.Err()
}

// A metric is one figure a scenario's table compares.
type metric struct {
	name  string
	value func(*result) (float64, bool) // false: the run does not have it
}

// metricsFor lists the figures worth comparing for a kind of run. A frozen
// reader that was never cut counts as +Inf ("not cut").
func metricsFor(kind string, frozen bool) []metric {
	stream := func(f func(*streamStats) float64) func(*result) (float64, bool) {
		return func(r *result) (float64, bool) {
			if r.Stream == nil {
				return 0, false
			}
			return f(r.Stream), true
		}
	}
	server := func(f func(*serverStats) float64) func(*result) (float64, bool) {
		return func(r *result) (float64, bool) {
			if r.Server == nil || r.Server.SampleError != "" {
				return 0, false
			}
			return f(r.Server), true
		}
	}
	cutAfter := metric{"frozen reader cut after (s)", func(r *result) (float64, bool) {
		if len(r.Frozen) == 0 {
			return 0, false
		}
		if c := r.Frozen[0].CutAfterS; c != nil {
			return *c, true
		}
		return math.Inf(1), true
	}}
	generator := metric{"generator CPU (%)", func(r *result) (float64, bool) { return r.Generator.CPUPc, true }}
	others := metric{"other processes' CPU (% of a core)", func(r *result) (float64, bool) {
		if r.Machine == nil {
			return 0, false
		}
		return r.Machine.OthersCPUPc, true
	}}
	var ms []metric
	switch kind {
	case kindStreams:
		ms = []metric{
			{"deliveries/s", stream(func(s *streamStats) float64 { return s.DeliveriesPerS })},
			{"latency p50 (ms)", stream(func(s *streamStats) float64 { return s.Latency.P50 })},
			{"latency p99 (ms)", stream(func(s *streamStats) float64 { return s.Latency.P99 })},
			{"latency max (ms)", stream(func(s *streamStats) float64 { return s.Latency.Max })},
			{"lost", stream(func(s *streamStats) float64 { return float64(s.Lost) })},
			{"readers cut", stream(func(s *streamStats) float64 { return float64(s.ReadersCut) })},
			{"server CPU (%)", server(func(s *serverStats) float64 { return s.CPUPc })},
			{"server CPU µs/delivery", server(func(s *serverStats) float64 { return s.CPUUsPerDeliv })},
			{"write syscalls/delivery", server(func(s *serverStats) float64 { return s.WritesPerDeliv })},
			{"server RSS at end (MiB)", server(func(s *serverStats) float64 { return s.RSSMiB })},
			{"server peak RSS (MiB)", server(func(s *serverStats) float64 { return s.PeakMiB })},
		}
		if frozen {
			ms = append(ms, cutAfter)
		}
		ms = append(ms, generator, others)
	case kindStuck:
		ms = []metric{cutAfter,
			{"healthy reader p99 (ms)", stream(func(s *streamStats) float64 { return s.Latency.P99 })},
			{"healthy reader lost", stream(func(s *streamStats) float64 { return float64(s.Lost) })},
			others,
		}
	case kindIdle:
		ms = []metric{
			{"KiB per idle stream", func(r *result) (float64, bool) {
				if r.Idle == nil {
					return 0, false
				}
				return r.Idle.PerStreamKiB, true
			}},
			{"server RSS with the streams (MiB)", func(r *result) (float64, bool) {
				if r.Idle == nil {
					return 0, false
				}
				return r.Idle.RSSAfterMiB, true
			}},
		}
	case kindPosts:
		posts := func(f func(*postStats) float64) func(*result) (float64, bool) {
			return func(r *result) (float64, bool) {
				if r.Posts == nil {
					return 0, false
				}
				return f(r.Posts), true
			}
		}
		ms = []metric{
			{"posts/s", posts(func(p *postStats) float64 { return p.PostsPerS })},
			{"post latency p99 (ms)", posts(func(p *postStats) float64 { return p.Latency.P99 })},
			{"failed posts", posts(func(p *postStats) float64 { return float64(p.Failed) })},
			{"server CPU µs/post", server(func(s *serverStats) float64 { return s.CPUUsPerPost })},
			{"write syscalls/post", server(func(s *serverStats) float64 { return s.WritesPerPost })},
			generator, others,
		}
	case kindResume:
		resume := func(f func(*resumeStats) float64) func(*result) (float64, bool) {
			return func(r *result) (float64, bool) {
				if r.Resume == nil {
					return 0, false
				}
				return f(r.Resume), true
			}
		}
		ms = []metric{
			{"resume p50 (ms)", resume(func(s *resumeStats) float64 { return s.Latency.P50 })},
			{"resume p90 (ms)", resume(func(s *resumeStats) float64 { return s.Latency.P90 })},
			{"resume max (ms)", resume(func(s *resumeStats) float64 { return s.Latency.Max })},
			{"first resume (ms)", resume(func(s *resumeStats) float64 { return s.ColdMs })},
			{"failed resumes", resume(func(s *resumeStats) float64 { return float64(s.Tries - s.OK) })},
			others,
		}
	case kindMemory:
		ms = []metric{{"server RSS (MiB)", server(func(s *serverStats) float64 { return s.RSSMiB })}}
	}
	return ms
}

// procMetrics are the figures of the -procs processes and the counters
// the first run of a scenario has, by name.
func procMetrics(first *result) []metric {
	var ms []metric
	for _, p := range first.Procs {
		proc := func(f func(procStat) float64) func(*result) (float64, bool) {
			return func(r *result) (float64, bool) {
				for _, q := range r.Procs {
					if q.Name == p.Name {
						return f(q), true
					}
				}
				return 0, false
			}
		}
		if first.Kind != kindMemory {
			ms = append(ms, metric{p.Name + " CPU (%)", proc(func(q procStat) float64 { return q.CPUPc })})
		}
		if first.Kind == kindIdle {
			ms = append(ms, metric{p.Name + " RSS before the streams (MiB)", proc(func(q procStat) float64 { return q.RSSBeforeMiB })})
		}
		ms = append(ms, metric{p.Name + " RSS (MiB)", proc(func(q procStat) float64 { return q.RSSMiB })})
	}
	for _, name := range slices.Sorted(maps.Keys(first.Counters)) {
		ms = append(ms, metric{name + " (over the window)", func(r *result) (float64, bool) {
			v, ok := r.Counters[name]
			return v, ok
		}})
	}
	return ms
}

// spread is the median and range of some runs' values.
type spread struct {
	n                int
	median, low, top float64
}

// spreadOf summarises values; n is 0 for none.
func spreadOf(values []float64) spread {
	if len(values) == 0 {
		return spread{}
	}
	v := slices.Clone(values)
	slices.Sort(v)
	s := spread{n: len(v), low: v[0], top: v[len(v)-1], median: v[len(v)/2]}
	if len(v)%2 == 0 {
		s.median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return s
}

func (s spread) String() string {
	switch {
	case s.n == 0:
		return "—"
	case s.n == 1:
		return num(s.median)
	}
	return fmt.Sprintf("%s [%s–%s]", num(s.median), num(s.low), num(s.top))
}

// num prints a figure with about three significant digits.
func num(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "not cut"
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// ratio is a/b of two medians, "—" where it means nothing.
func ratio(a, b spread) string {
	if a.n == 0 || b.n == 0 || b.median == 0 || math.IsInf(a.median, 0) || math.IsInf(b.median, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f", a.median/b.median)
}

// targets are the servers in the order the tables show them.
var targets = []string{"cloakroom", "centrifugo"}

// writeSummary prints a table per scenario: for each figure, each server's
// median and range over its valid runs (not void, no error) and the ratio
// of the medians, Cloakroom over Centrifugo.
func writeSummary(w io.Writer, runs []result) {
	var order []string
	byScenario := map[string][]*result{}
	for i := range runs {
		r := &runs[i]
		if _, ok := byScenario[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		byScenario[r.Scenario] = append(byScenario[r.Scenario], r)
	}
	for _, name := range order {
		group := byScenario[name]
		first := group[0]
		fmt.Fprintf(w, "\n== %s (%s)\n", name, describe(first))
		valid, void := map[string][]*result{}, map[string][]*result{}
		// A scenario run on one server alone (loadtest/nodes.sh) gets a
		// column of its own, without the figures its runs do not have.
		shown := targets
		if !slices.ContainsFunc(group, func(r *result) bool { return r.Target != targets[0] }) {
			shown = targets[:1]
		}
		for _, t := range shown {
			var all, failed int
			for _, r := range group {
				if r.Target != t {
					continue
				}
				all++
				switch {
				case r.Error != "":
					failed++
				case r.Void:
					void[t] = append(void[t], r)
				default:
					valid[t] = append(valid[t], r)
				}
			}
			fmt.Fprintf(w, "   %s: %d runs, %d valid, %d void, %d failed\n", t, all, len(valid[t]), len(void[t]), failed)
		}
		// A server with no valid run shows its void runs, marked, rather
		// than nothing: they still say something, if less.
		marked := false
		for _, t := range targets {
			if len(valid[t]) == 0 && len(void[t]) > 0 {
				valid[t], marked = void[t], true
			}
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if len(shown) == 1 {
			fmt.Fprintf(tw, "   figure\t%s\n", shown[0])
		} else {
			fmt.Fprintf(tw, "   figure\t%s\t%s\tratio\n", targets[0], targets[1])
		}
		for _, m := range append(metricsFor(first.Kind, first.Params.Frozen > 0), procMetrics(first)...) {
			var s [2]spread
			var cells [2]string
			for i, t := range targets {
				var values []float64
				for _, r := range valid[t] {
					if v, ok := m.value(r); ok {
						values = append(values, v)
					}
				}
				s[i] = spreadOf(values)
				cells[i] = s[i].String()
				if s[i].n > 0 && len(valid[t]) > 0 && valid[t][0].Void {
					cells[i] += " (void)"
				}
			}
			switch {
			case len(shown) == 2:
				fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\n", m.name, cells[0], cells[1], ratio(s[0], s[1]))
			case s[0].n > 0:
				fmt.Fprintf(tw, "   %s\t%s\n", m.name, cells[0])
			}
		}
		tw.Flush()
		if marked {
			fmt.Fprintln(w, "   (void): from void runs only, where the generator, not the server, may have set the pace")
		}
	}
}

// describe is a scenario's parameters in words.
func describe(r *result) string {
	p := r.Params
	switch r.Kind {
	case kindIdle:
		return fmt.Sprintf("%d idle streams over %d rooms, settle %gs", p.Readers, p.Rooms, p.SettleS)
	case kindPosts:
		rooms := "a room"
		if p.Rooms > 1 {
			rooms = plural(p.Rooms, "room")
		}
		return fmt.Sprintf("posts into %s nobody reads, %d connections%s, %d B, %gs", rooms, p.Conns, onNodes(p.PostNodes), p.Size, p.DurationS)
	case kindResume:
		return fmt.Sprintf("%s resuming %d events one after another%s", plural(p.Tries, "reader"), p.Events, onNodes(p.ReadNodes))
	case kindMemory:
		return "memory, no load"
	}
	window := fmt.Sprintf("window %gs", p.DurationS)
	if r.Kind == kindStuck {
		window = fmt.Sprintf("a cut awaited up to %gs", p.DurationS)
	}
	s := fmt.Sprintf("%s, %s, %d msg/s, %d B, warm-up %gs, %s",
		plural(p.Rooms, "room"), plural(p.Readers, "reader"), p.Rate, p.Size, p.WarmupS, window)
	if p.PostNodes > 1 || p.ReadNodes > 1 {
		s += fmt.Sprintf(", posts to %s, readers on %s", plural(p.PostNodes, "node"), plural(p.ReadNodes, "node"))
	}
	if p.Frozen > 0 {
		buf := "default receive buffer"
		if p.RcvBuf > 0 {
			buf = fmt.Sprintf("SO_RCVBUF %d", p.RcvBuf)
		}
		s += fmt.Sprintf(", %s with %s", plural(p.Frozen, "frozen reader"), buf)
	}
	return s
}

// onNodes says over how many nodes, when more than one.
func onNodes(n int) string {
	if n > 1 {
		return " over " + plural(n, "node")
	}
	return ""
}

// plural is "1 room" or "100 rooms".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
