package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The kinds of run the tool knows.
const (
	kindStreams = "streams" // readers over rooms, an open-loop publisher
	kindStuck   = "stuck"   // streams with frozen readers; ends once they are cut
	kindIdle    = "idle"    // memory per idle stream
	kindPosts   = "posts"   // closed-loop posts into rooms nobody reads
	kindResume  = "resume"  // fresh readers resuming a room's last events
	kindMemory  = "memory"  // the processes' memory now, no load
)

// config is one run's parameters: a scenario's preset, then any flag given.
type config struct {
	target string // cloakroom or centrifugo
	url    string // the server's base URL
	// postURLs and readURLs are the nodes posts and readers go to, spread
	// round-robin; both default to url. Setup (joins) goes to postURLs[0].
	postURLs  []string
	readURLs  []string
	name      string // what the run is recorded as; default the scenario
	apiKey    string // Centrifugo's HTTP API key
	scenario  string
	kind      string
	rooms     int
	readers   int // healthy readers (idle: streams)
	frozen    int // readers that stop reading when the window opens
	rcvbuf    int // frozen readers' SO_RCVBUF; 0 keeps the kernel's default
	rate      int // messages per second over all rooms
	size      int // bytes of message text
	conns     int // posts: keep-alive connections
	events    int // resume: events each reader resumes
	tries     int // resume: readers, one after another
	warmup    time.Duration
	duration  time.Duration // the measured window (stuck: the longest wait for a cut)
	drain     time.Duration // after the window: the longest wait for late messages
	settle    time.Duration // idle: wait before measuring memory
	serverPID int
	procs     []namedPID // more processes to sample (nodes, NATS)
	// metricsURLs are Prometheus endpoints whose counters named with
	// counterPrefix are read before and after the window, summed.
	metricsURLs   []string
	counterPrefix string
	voidPct       float64 // generator CPU, % of its cores, above which a run is void
	json          bool
	// cpuProfile is where to write the tool's own CPU profile.
	cpuProfile string
}

// scenarios are the measurements, by name.
var scenarios = map[string]config{
	"fanout100": {kind: kindStreams, rooms: 1, readers: 1000, rate: 100, size: 300},
	"fanout200": {kind: kindStreams, rooms: 1, readers: 1000, rate: 200, size: 300},
	"rooms":     {kind: kindStreams, rooms: 100, readers: 1000, rate: 2000, size: 300},
	"big":       {kind: kindStreams, rooms: 1, readers: 200, rate: 100, size: 16000},
	"big-frozen": {kind: kindStreams, rooms: 1, readers: 200, frozen: 1, rcvbuf: 4096,
		rate: 100, size: 16000},
	"idle1k": {kind: kindIdle, rooms: 10, readers: 1000, settle: 5 * time.Second},
	"idle5k": {kind: kindIdle, rooms: 10, readers: 5000, settle: 5 * time.Second},
	"posts":  {kind: kindPosts, rooms: 1, conns: 32, size: 300},
	// Several nodes (loadtest/nodes.sh): the same kinds, other sizes.
	"posts100": {kind: kindPosts, rooms: 100, conns: 24, size: 300},
	"cross":    {kind: kindStreams, rooms: 5, readers: 50, rate: 1000, size: 300},
	"resume":   {kind: kindResume, rooms: 1, events: 1000, tries: 50, conns: 8, size: 300},
	"memory":   {kind: kindMemory, rooms: 1},
	// One frozen reader beside one healthy one, which shows the room goes on.
	"stuck-300":        {kind: kindStuck, rooms: 1, readers: 1, frozen: 1, rcvbuf: 4096, rate: 20, size: 300},
	"stuck-4k":         {kind: kindStuck, rooms: 1, readers: 1, frozen: 1, rcvbuf: 4096, rate: 20, size: 4000},
	"stuck-16k":        {kind: kindStuck, rooms: 1, readers: 1, frozen: 1, rcvbuf: 4096, rate: 100, size: 16000},
	"stuck-300-defrcv": {kind: kindStuck, rooms: 1, readers: 1, frozen: 1, rate: 20, size: 300},
	"stuck-4k-defrcv":  {kind: kindStuck, rooms: 1, readers: 1, frozen: 1, rate: 20, size: 4000},
	"stuck-16k-defrcv": {kind: kindStuck, rooms: 1, readers: 1, frozen: 1, rate: 100, size: 16000},
}

// Defaults every scenario shares unless its preset or a flag says otherwise.
const (
	defaultWarmup   = 5 * time.Second
	defaultDuration = 20 * time.Second
	defaultStuckMax = 30 * time.Second
	defaultDrain    = 10 * time.Second
)

// scenarioNames lists the scenarios, sorted, for help and errors.
func scenarioNames() string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// check reports a configuration the run cannot carry out.
func (c *config) check() error {
	switch {
	case c.target != "cloakroom" && c.target != "centrifugo":
		return fmt.Errorf("-target must be cloakroom or centrifugo, not %q", c.target)
	case c.target == "centrifugo" && c.apiKey == "" && c.kind != kindIdle:
		return fmt.Errorf("-api-key is needed to publish to Centrifugo")
	case c.rooms < 1:
		return fmt.Errorf("-rooms must be at least 1")
	case c.kind == kindIdle && c.readers < 1:
		return fmt.Errorf("-readers must be at least 1")
	case (c.kind == kindStreams || c.kind == kindStuck) && c.rate < 1:
		return fmt.Errorf("-rate must be at least 1")
	case c.kind == kindPosts && c.conns < 1:
		return fmt.Errorf("-conns must be at least 1")
	case c.kind == kindStuck && c.frozen < 1:
		return fmt.Errorf("a stuck run needs -frozen of at least 1")
	case c.kind == kindResume && (c.events < 1 || c.tries < 1 || c.conns < 1):
		return fmt.Errorf("a resume run needs -events, -tries and -conns of at least 1")
	case c.kind == kindMemory && c.serverPID <= 0 && len(c.procs) == 0:
		return fmt.Errorf("a memory run needs -server-pid or -procs")
	case c.target == "centrifugo" && (len(c.postURLs) > 1 || len(c.readURLs) > 1 || c.kind == kindResume):
		return fmt.Errorf("several nodes and resume runs are for Cloakroom only")
	case c.size > maxTextBytes:
		return fmt.Errorf("-size must be at most %d", maxTextBytes)
	case c.duration <= 0 || c.warmup < 0:
		return fmt.Errorf("-duration must be positive and -warmup not negative")
	}
	return nil
}
