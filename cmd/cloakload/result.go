package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// result is one run, as the -json line records it. Times are in the units
// their names end with; a field that does not apply to the run's kind is
// left out.
type result struct {
	Target     string    `json:"target"`
	Scenario   string    `json:"scenario"`
	Kind       string    `json:"kind"`
	Started    time.Time `json:"started"`
	Load       string    `json:"load"` // /proc/loadavg's 1, 5 and 15 minute averages at the start
	Params     params    `json:"params"`
	WindowS    float64   `json:"window_s"` // length of the measured window
	Void       bool      `json:"void"`
	VoidReason string    `json:"void_reason,omitempty"`
	Error      string    `json:"error,omitempty"`

	Generator genStats      `json:"generator"`
	Machine   *machineStats `json:"machine,omitempty"`
	Server    *serverStats  `json:"server,omitempty"`
	Stream    *streamStats  `json:"stream,omitempty"`
	Posts     *postStats    `json:"posts,omitempty"`
	Frozen    []frozenStat  `json:"frozen,omitempty"`
	Idle      *idleStats    `json:"idle,omitempty"`
	Resume    *resumeStats  `json:"resume,omitempty"`
	// Procs are the processes given with -procs, in their order.
	Procs     []procStat `json:"procs,omitempty"`
	ProcError string     `json:"proc_error,omitempty"`
	// Counters are the -metrics-urls counters' growth over the window,
	// summed over the endpoints and labels, by name.
	Counters     map[string]float64 `json:"counters,omitempty"`
	CounterError string             `json:"counter_error,omitempty"`
}

type params struct {
	Rooms     int     `json:"rooms"`
	Readers   int     `json:"readers"`
	Frozen    int     `json:"frozen,omitempty"`
	RcvBuf    int     `json:"rcvbuf,omitempty"`
	Rate      int     `json:"rate,omitempty"`
	Size      int     `json:"size,omitempty"`
	Conns     int     `json:"conns,omitempty"`
	Events    int     `json:"events,omitempty"`
	Tries     int     `json:"tries,omitempty"`
	PostNodes int     `json:"post_nodes,omitempty"`
	ReadNodes int     `json:"read_nodes,omitempty"`
	WarmupS   float64 `json:"warmup_s"`
	DurationS float64 `json:"duration_s"`
	SettleS   float64 `json:"settle_s,omitempty"`
}

// genStats is the tool's own CPU over the window.
type genStats struct {
	CPUS  float64 `json:"cpu_s"`
	Cores int     `json:"cores"` // CPUs it may run on
	CPUPc float64 `json:"cpu_pct"`
}

// machineStats is the rest of the machine over the window, from /proc/stat.
type machineStats struct {
	OthersCPUPc float64 `json:"others_cpu_pct"` // CPU used by other processes and the kernel's own work, % of one core
	StealPc     float64 `json:"steal_pct"`      // CPU the hypervisor took, % of one core
}

// serverStats is the server process over the window (from /proc).
type serverStats struct {
	CPUS            float64 `json:"cpu_s"`
	CPUPc           float64 `json:"cpu_pct"` // of one core
	WriteSyscalls   uint64  `json:"write_syscalls"`
	RSSMiB          float64 `json:"rss_mib"`  // at the window's end
	PeakMiB         float64 `json:"peak_mib"` // VmHWM at the window's end
	CPUUsPerDeliv   float64 `json:"cpu_us_per_delivery,omitempty"`
	WritesPerDeliv  float64 `json:"writes_per_delivery,omitempty"`
	CPUUsPerPost    float64 `json:"cpu_us_per_post,omitempty"`
	WritesPerPost   float64 `json:"writes_per_post,omitempty"`
	SampleError     string  `json:"sample_error,omitempty"`
	CPUResolutionMs float64 `json:"cpu_resolution_ms"`
}

// streamStats are the healthy readers' deliveries and the publisher's posts.
type streamStats struct {
	Deliveries      uint64    `json:"deliveries"` // message events parsed inside the window
	DeliveriesPerS  float64   `json:"deliveries_per_s"`
	Latency         latencyMs `json:"latency_ms"`
	Received        uint64    `json:"received"` // every message event, the whole run
	Lost            uint64    `json:"lost"`     // accepted messages a reader never got
	Duplicates      uint64    `json:"duplicates"`
	Reorders        uint64    `json:"reorders"` // arrived after a message posted after it was accepted
	Late            uint64    `json:"late"`     // arrived after a higher sequence (reorders, and swaps of posts in flight together)
	ReadersWithLoss int       `json:"readers_with_loss"`
	ReadersCut      int       `json:"readers_cut"` // streams the server or network ended
	CutReasons      []failure `json:"cut_reasons,omitempty"`
	MinReceived     uint64    `json:"min_received"` // the least any one reader got
	MaxReceived     uint64    `json:"max_received"`

	Sent      uint64    `json:"sent"`
	Accepted  uint64    `json:"accepted"`
	Failed    uint64    `json:"failed"`
	Failures  []failure `json:"failures,omitempty"`
	Overlaps  uint64    `json:"overlaps"` // posts sent while the room's previous post still waited
	SendLagMs latencyMs `json:"send_lag_ms"`
}

// latencyMs summarises a histogram in milliseconds.
type latencyMs struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

func summarize(h *histogram) latencyMs {
	return latencyMs{
		Samples: h.n,
		P50:     ms(h.quantile(0.50)),
		P90:     ms(h.quantile(0.90)),
		P99:     ms(h.quantile(0.99)),
		Max:     ms(time.Duration(h.max) * time.Microsecond),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// postStats is the closed-loop posts run.
type postStats struct {
	Posts     uint64    `json:"posts"` // completed inside the window
	PostsPerS float64   `json:"posts_per_s"`
	Latency   latencyMs `json:"latency_ms"` // from sending to the reply
	Failed    uint64    `json:"failed"`
	Failures  []failure `json:"failures,omitempty"`
}

// procStat is one -procs process over the window.
type procStat struct {
	Name         string  `json:"name"`
	PID          int     `json:"pid"`
	CPUPc        float64 `json:"cpu_pct"`        // of one core
	RSSBeforeMiB float64 `json:"rss_before_mib"` // at the window's start
	RSSMiB       float64 `json:"rss_mib"`        // at its end
	PeakMiB      float64 `json:"peak_mib"`       // VmHWM at its end
}

// resumeStats is the resume run: fresh readers, one after another, each
// resuming the room's last Events events with Last-Event-ID.
type resumeStats struct {
	Events int `json:"events"`
	Tries  int `json:"tries"`
	OK     int `json:"ok"` // got every event, in order, no reset
	// ColdMs is the first try, which may find its node not yet serving
	// the room; Latency is the others, from the request to the last event.
	ColdMs   float64   `json:"cold_ms"`
	Latency  latencyMs `json:"latency_ms"`
	Failures []failure `json:"failures,omitempty"`
	FillPerS float64   `json:"fill_posts_per_s"` // how fast the room was filled
}

// frozenStat is one frozen reader.
type frozenStat struct {
	Received  uint64   `json:"received"`
	Gaps      uint64   `json:"gaps"`      // missing sequences below the highest it got
	StoppedS  float64  `json:"stopped_s"` // when it stopped reading, on the run's clock
	CutAfterS *float64 `json:"cut_after_s"`
	SeenBy    string   `json:"seen_by,omitempty"`
	WatchedS  float64  `json:"watched_s"` // how long it was watched
}

// idleStats is the idle-memory run.
type idleStats struct {
	Streams      int     `json:"streams"`
	RSSBeforeMiB float64 `json:"rss_before_mib"`
	RSSAfterMiB  float64 `json:"rss_after_mib"`
	PerStreamKiB float64 `json:"per_stream_kib"`
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// line is the run in one human-readable line.
func (r *result) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %-16s", r.Target, r.Scenario)
	if r.Error != "" {
		fmt.Fprintf(&b, " ERROR %s", r.Error)
		return b.String()
	}
	if s := r.Stream; s != nil {
		fmt.Fprintf(&b, " %.0f deliveries/s, latency p50 %s p90 %s p99 %s max %s; lost %d dup %d reorder %d (late %d) cut %d",
			s.DeliveriesPerS, fmtMs(s.Latency.P50), fmtMs(s.Latency.P90), fmtMs(s.Latency.P99), fmtMs(s.Latency.Max),
			s.Lost, s.Duplicates, s.Reorders, s.Late, s.ReadersCut)
		if s.Failed > 0 {
			fmt.Fprintf(&b, "; %d/%d posts failed", s.Failed, s.Sent)
		}
	}
	if p := r.Posts; p != nil {
		fmt.Fprintf(&b, " %.0f posts/s, latency p50 %s p99 %s; %d failed", p.PostsPerS, fmtMs(p.Latency.P50), fmtMs(p.Latency.P99), p.Failed)
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(&b, " %d streams: %.1f KiB each (RSS %.1f → %.1f MiB)", i.Streams, i.PerStreamKiB, i.RSSBeforeMiB, i.RSSAfterMiB)
	}
	if s := r.Resume; s != nil {
		fmt.Fprintf(&b, " resume %d events: %d/%d ok, p50 %s p90 %s max %s, first %s",
			s.Events, s.OK, s.Tries, fmtMs(s.Latency.P50), fmtMs(s.Latency.P90), fmtMs(s.Latency.Max), fmtMs(s.ColdMs))
	}
	for _, f := range r.Frozen {
		if f.CutAfterS != nil {
			fmt.Fprintf(&b, "; frozen reader cut after %.2f s (%s, got %d, %d gaps)", *f.CutAfterS, f.SeenBy, f.Received, f.Gaps)
		} else {
			fmt.Fprintf(&b, "; frozen reader not cut after %.1f s (got %d, %d gaps)", f.WatchedS, f.Received, f.Gaps)
		}
	}
	if s := r.Server; s != nil && s.SampleError == "" {
		fmt.Fprintf(&b, " | server CPU %.0f%%", s.CPUPc)
		if s.CPUUsPerDeliv > 0 {
			fmt.Fprintf(&b, " %.1f µs/delivery %.2f writes/delivery", s.CPUUsPerDeliv, s.WritesPerDeliv)
		}
		if s.CPUUsPerPost > 0 {
			fmt.Fprintf(&b, " %.1f µs/post", s.CPUUsPerPost)
		}
		fmt.Fprintf(&b, ", RSS %.0f MiB peak %.0f", s.RSSMiB, s.PeakMiB)
	} else if s != nil {
		fmt.Fprintf(&b, " | server: %s", s.SampleError)
	}
	if r.Kind != kindMemory { // a memory run has no window
		fmt.Fprintf(&b, " | generator CPU %.0f%% of %d core(s)", r.Generator.CPUPc, r.Generator.Cores)
	}
	if m := r.Machine; m != nil {
		fmt.Fprintf(&b, " | others %.0f%% of a core", m.OthersCPUPc)
		if m.StealPc >= 1 {
			fmt.Fprintf(&b, ", stolen %.0f%%", m.StealPc)
		}
	}
	for _, p := range r.Procs {
		if r.Kind == kindMemory {
			fmt.Fprintf(&b, " | %s RSS %.0f MiB", p.Name, p.RSSMiB)
			continue
		}
		fmt.Fprintf(&b, " | %s CPU %.0f%% RSS %.0f MiB", p.Name, p.CPUPc, p.RSSMiB)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Counters)) {
		fmt.Fprintf(&b, " | %s +%g", name, r.Counters[name])
	}
	if r.Void {
		fmt.Fprintf(&b, " VOID (%s)", r.VoidReason)
	}
	return b.String()
}

// fmtMs prints milliseconds with a precision that suits their size.
func fmtMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}
