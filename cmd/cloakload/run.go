package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// newTarget is the target the configuration names.
func newTarget(cfg *config) target {
	base := strings.TrimRight(cfg.postURLs[0], "/")
	if cfg.target == "centrifugo" {
		return &centrifugo{base: base, apiKey: cfg.apiKey}
	}
	return &cloakroom{base: base}
}

// run carries out one run and describes it; a failure to set the run up
// is an error, while what goes wrong under load is part of the result.
func run(ctx context.Context, cfg *config) (*result, error) {
	res := &result{
		Target: cfg.target, Scenario: cmp.Or(cfg.name, cfg.scenario), Kind: cfg.kind,
		Started: time.Now().UTC(), Load: loadAverage(),
		Params: params{
			Rooms: cfg.rooms, Readers: cfg.readers, Frozen: cfg.frozen, RcvBuf: cfg.rcvbuf,
			Rate: cfg.rate, Size: cfg.size, Conns: cfg.conns, Events: cfg.events, Tries: cfg.tries,
			PostNodes: len(cfg.postURLs), ReadNodes: len(cfg.readURLs),
			WarmupS: cfg.warmup.Seconds(), DurationS: cfg.duration.Seconds(), SettleS: cfg.settle.Seconds(),
		},
	}
	var err error
	switch cfg.kind {
	case kindStreams, kindStuck:
		err = runStreams(ctx, cfg, res)
	case kindIdle:
		err = runIdle(ctx, cfg, res)
	case kindPosts:
		err = runPosts(ctx, cfg, res)
	case kindResume:
		err = runResume(ctx, cfg, res)
	case kindMemory:
		err = runMemory(ctx, cfg, res)
	default:
		err = fmt.Errorf("unknown kind %q", cfg.kind)
	}
	return res, err
}

// roomNames names the run's rooms.
func roomNames(n int) []string {
	rooms := make([]string, n)
	for i := range rooms {
		rooms[i] = roomName(i)
	}
	return rooms
}

// sampler takes the snapshots of both processes the window is measured by,
// and of any more processes and counters the run was given.
type sampler struct {
	pid     int
	clock   clock
	at      time.Duration
	server  procSample
	self    time.Duration
	machine machineCPU
	err     error
	merr    error

	procs       []namedPID
	procSamples []procSample
	perr        error
	metricsURLs []string
	prefix      string
	counters    map[string]float64
	cerr        error
}

func newSampler(cfg *config, c clock) *sampler {
	return &sampler{pid: cfg.serverPID, clock: c, procs: cfg.procs, metricsURLs: cfg.metricsURLs, prefix: cfg.counterPrefix}
}

func (s *sampler) take() {
	s.at = s.clock.now()
	s.self = selfCPU()
	s.machine, s.merr = sampleMachine()
	if s.pid > 0 {
		s.server, s.err = sampleProc(s.pid)
	}
	s.procSamples = make([]procSample, len(s.procs))
	var errs []error
	for i, p := range s.procs {
		var err error
		if s.procSamples[i], err = sampleProc(p.pid); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
		}
	}
	s.perr = errors.Join(errs...)
	if len(s.metricsURLs) > 0 {
		s.counters, s.cerr = scrapeCounters(s.metricsURLs, s.prefix)
	}
}

// measure fills the result's generator and server figures between two
// samples, and marks the run void when the generator was the bottleneck.
func measure(cfg *config, res *result, a, b *sampler) time.Duration {
	window := b.at - a.at
	res.WindowS = window.Seconds()
	cores := selfCores()
	gen := b.self - a.self
	res.Generator = genStats{CPUS: gen.Seconds(), Cores: cores, CPUPc: 100 * gen.Seconds() / (window.Seconds() * float64(cores))}
	if res.Generator.CPUPc > cfg.voidPct {
		res.Void = true
		res.VoidReason = fmt.Sprintf("generator used %.0f%% of its %d core(s), over %.0f%%", res.Generator.CPUPc, cores, cfg.voidPct)
	}
	if a.merr == nil && b.merr == nil && a.err == nil && b.err == nil {
		// What the machine's CPUs did besides the two processes measured:
		// other programs competing for the pinned cores skew every figure.
		others := b.machine.busy - a.machine.busy - gen
		if cfg.serverPID > 0 {
			others -= b.server.cpu - a.server.cpu
		}
		res.Machine = &machineStats{
			OthersCPUPc: max(0, 100*others.Seconds()/window.Seconds()),
			StealPc:     100 * (b.machine.steal - a.machine.steal).Seconds() / window.Seconds(),
		}
	}
	if res.Machine != nil {
		// The other processes measured are not "others".
		for i := range cfg.procs {
			if a.perr == nil && b.perr == nil && cfg.procs[i].pid != cfg.serverPID {
				res.Machine.OthersCPUPc = max(0, res.Machine.OthersCPUPc-100*(b.procSamples[i].cpu-a.procSamples[i].cpu).Seconds()/window.Seconds())
			}
		}
	}
	res.Procs, res.ProcError = procFigures(cfg.procs, a, b, window)
	if len(cfg.metricsURLs) > 0 {
		if err := errors.Join(a.cerr, b.cerr); err != nil {
			res.CounterError = err.Error()
		} else {
			res.Counters = map[string]float64{}
			for name, v := range b.counters {
				res.Counters[name] = v - a.counters[name]
			}
		}
	}
	if cfg.serverPID <= 0 {
		return window
	}
	if err := errors.Join(a.err, b.err); err != nil {
		res.Server = &serverStats{SampleError: err.Error()}
		return window
	}
	cpu := b.server.cpu - a.server.cpu
	res.Server = &serverStats{
		CPUS:            cpu.Seconds(),
		CPUPc:           100 * cpu.Seconds() / window.Seconds(),
		WriteSyscalls:   b.server.syscw - a.server.syscw,
		RSSMiB:          mib(b.server.rss),
		PeakMiB:         mib(b.server.hwm),
		CPUResolutionMs: 1000 / userHZ,
	}
	return window
}

// hostOf is the host:port of a base URL.
func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Host
}

// hostsOf is the host:port of each base URL.
func hostsOf(bases []string) []string {
	hosts := make([]string, len(bases))
	for i, b := range bases {
		hosts[i] = hostOf(b)
	}
	return hosts
}

// freePort finds a TCP port free on 127.0.0.1 for a server the script
// starts (Centrifugo cannot listen on :0 and tell which port it got).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
