// Command cloakload measures a room-chat server under load, Cloakroom or,
// for comparison, Centrifugo: readers on SSE streams over rooms, an
// open-loop publisher, and the server's CPU, write system calls and memory
// from /proc. loadtest/compare.sh runs it against both servers; see
// docs/PERFORMANCE.md for what each figure means.
//
//	cloakload -target cloakroom -url http://127.0.0.1:5000 -scenario fanout100 -server-pid PID
//	cloakload -target centrifugo -url http://127.0.0.1:8000 -api-key KEY -scenario big -json
//	cloakload -post-urls http://127.0.0.1:5001,http://127.0.0.1:5002 -read-urls http://127.0.0.1:5003 -scenario cross -procs nats=PID,n1=PID
//	cloakload -summarize results.jsonl
//	cloakload -free-port
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cloakload:", err)
		os.Exit(1)
	}
}

// runMain parses the command line and does what it asks.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, mode, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	switch mode.action {
	case "free-port":
		port, err := freePort()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, port)
		return nil
	case "summarize":
		f, err := os.Open(mode.file)
		if err != nil {
			return err
		}
		defer f.Close()
		runs, err := readResults(f)
		if err != nil {
			return err
		}
		writeSummary(stdout, runs)
		return nil
	}
	if _, err := raiseFileLimit(); err != nil {
		return fmt.Errorf("raise the open-file limit: %w", err)
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := run(ctx, cfg)
	if err != nil {
		res.Error = err.Error()
	}
	if cfg.json {
		line, jerr := json.Marshal(res)
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(stdout, "%s\n", line)
		fmt.Fprintln(stderr, res.line())
	} else {
		fmt.Fprintln(stdout, res.line())
	}
	return err
}

// mode is what the tool is asked to do besides a run.
type mode struct {
	action string // "", "free-port" or "summarize"
	file   string
}

// parseFlags reads the command line: a scenario's preset, overridden by
// every flag given explicitly.
func parseFlags(args []string, stderr io.Writer) (*config, mode, error) {
	fs := flag.NewFlagSet("cloakload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c       config
		m       mode
		freeOne bool
	)
	fs.StringVar(&c.target, "target", "cloakroom", "server: cloakroom or centrifugo")
	fs.StringVar(&c.url, "url", "http://127.0.0.1:5000", "the server's base URL")
	fs.StringVar(&c.apiKey, "api-key", "", "Centrifugo's HTTP API key (publishing)")
	fs.StringVar(&c.scenario, "scenario", "fanout100", "one of: "+scenarioNames())
	var rooms, readers, frozen, rcvbuf, rate, size, conns, events, tries presetInt
	var settle presetDuration
	fs.Var(&rooms, "rooms", "`n` rooms (default: the scenario's)")
	fs.Var(&readers, "readers", "`n` healthy readers, spread over the rooms; idle: streams (default: the scenario's)")
	fs.Var(&frozen, "frozen", "`n` readers that stop reading when the window opens (default: the scenario's)")
	fs.Var(&rcvbuf, "rcvbuf", "frozen readers' SO_RCVBUF in `bytes`, 0 for the kernel's default (default: the scenario's)")
	fs.Var(&rate, "rate", "messages per second over all rooms, a `rate` (default: the scenario's)")
	fs.Var(&size, "size", "`bytes` of message text (default: the scenario's)")
	fs.Var(&conns, "conns", "posts: `n` keep-alive connections, spread over -post-urls; resume: connections that fill the room (default: the scenario's)")
	fs.Var(&events, "events", "resume: `n` events each reader resumes (default: the scenario's)")
	fs.Var(&tries, "tries", "resume: `n` readers, one after another (default: the scenario's)")
	var postURLs, readURLs, metricsURLs, procs string
	fs.StringVar(&postURLs, "post-urls", "", "comma-separated base `URLs` (nodes) to post to, round-robin; default -url; joins go to the first")
	fs.StringVar(&readURLs, "read-urls", "", "comma-separated base `URLs` (nodes) readers connect to, round-robin; default -url")
	fs.StringVar(&c.name, "name", "", "record the run under this `name` instead of the scenario's (for -summarize)")
	fs.StringVar(&procs, "procs", "", "more processes to sample, `name=pid,…` (each node, NATS): CPU over the window, memory at its end")
	fs.StringVar(&metricsURLs, "metrics-urls", "", "comma-separated Prometheus `URLs` whose counters named -counter-prefix… are summed before and after the window")
	fs.StringVar(&c.counterPrefix, "counter-prefix", "cloakroom_nats_", "the counters -metrics-urls reports")
	fs.Var(&settle, "settle", "idle: `time` to wait before measuring memory (default: the scenario's)")
	fs.DurationVar(&c.warmup, "warmup", defaultWarmup, "load before the measured window")
	fs.DurationVar(&c.duration, "duration", 0, fmt.Sprintf("measured window (default %s; stuck runs: the longest wait for a cut, default %s)", defaultDuration, defaultStuckMax))
	fs.DurationVar(&c.drain, "drain", defaultDrain, "after the window, the longest wait for late messages")
	fs.IntVar(&c.serverPID, "server-pid", 0, "the server's process id, to read its CPU, writes and memory from /proc")
	fs.Float64Var(&c.voidPct, "void-above", 70, "generator CPU (% of its cores) above which a run is marked VOID")
	fs.BoolVar(&c.json, "json", false, "print the run as a JSON line on stdout (the human line goes to stderr)")
	fs.StringVar(&m.file, "summarize", "", "print a table per scenario from a file of -json lines, and exit")
	fs.BoolVar(&freeOne, "free-port", false, "print a free TCP port on 127.0.0.1, and exit")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the tool's own CPU profile to this `file` (to see what costs the generator)")
	err := fs.Parse(args)
	if err != nil {
		return nil, m, err
	}
	if fs.NArg() > 0 {
		return nil, m, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case freeOne:
		m.action = "free-port"
		return &c, m, nil
	case m.file != "":
		m.action = "summarize"
		return &c, m, nil
	}
	preset, ok := scenarios[c.scenario]
	if !ok {
		return nil, m, fmt.Errorf("unknown scenario %q; one of: %s", c.scenario, scenarioNames())
	}
	c.kind = preset.kind
	c.rooms, c.readers, c.frozen = rooms.or(preset.rooms), readers.or(preset.readers), frozen.or(preset.frozen)
	c.rcvbuf, c.rate, c.size, c.conns = rcvbuf.or(preset.rcvbuf), rate.or(preset.rate), size.or(preset.size), conns.or(preset.conns)
	c.settle = settle.or(preset.settle)
	c.events, c.tries = events.or(preset.events), tries.or(preset.tries)
	c.postURLs, c.readURLs, c.metricsURLs = splitList(postURLs), splitList(readURLs), splitList(metricsURLs)
	if len(c.postURLs) == 0 {
		c.postURLs = []string{c.url}
	}
	if len(c.readURLs) == 0 {
		c.readURLs = []string{c.url}
	}
	if c.procs, err = parseProcs(procs); err != nil {
		return nil, m, err
	}
	if c.duration == 0 {
		c.duration = defaultDuration
		if c.kind == kindStuck {
			c.duration = defaultStuckMax
		}
	}
	if err := c.check(); err != nil {
		return nil, m, err
	}
	return &c, m, nil
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// A namedPID is a process to sample, under a name of the script's.
type namedPID struct {
	name string
	pid  int
}

// parseProcs reads -procs: name=pid,…
func parseProcs(s string) ([]namedPID, error) {
	var out []namedPID
	for _, item := range splitList(s) {
		name, pid, ok := strings.Cut(item, "=")
		n, err := strconv.Atoi(pid)
		if !ok || name == "" || err != nil || n <= 0 {
			return nil, fmt.Errorf("-procs wants name=pid,…, not %q", item)
		}
		out = append(out, namedPID{name, n})
	}
	return out, nil
}

// presetInt is an integer flag that, when absent, takes the scenario's value.
type presetInt struct {
	v   int
	set bool
}

func (p *presetInt) String() string {
	if p == nil || !p.set {
		return ""
	}
	return strconv.Itoa(p.v)
}

func (p *presetInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return errors.New("want a whole number, 0 or more")
	}
	p.v, p.set = v, true
	return nil
}

func (p *presetInt) or(preset int) int {
	if p.set {
		return p.v
	}
	return preset
}

// presetDuration is a duration flag that, when absent, takes the
// scenario's value.
type presetDuration struct {
	v   time.Duration
	set bool
}

func (p *presetDuration) String() string {
	if p == nil || !p.set {
		return ""
	}
	return p.v.String()
}

func (p *presetDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return errors.New("want a duration, 0 or more")
	}
	p.v, p.set = v, true
	return nil
}

func (p *presetDuration) or(preset time.Duration) time.Duration {
	if p.set {
		return p.v
	}
	return preset
}
