package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// connectParallel is how many readers connect at once: enough to open
// thousands quickly, few enough not to overflow the server's accept queue.
const connectParallel = 32

// newTarget is the target the configuration names.
func newTarget(cfg *config) target {
	base := strings.TrimRight(cfg.url, "/")
	if cfg.target == "centrifugo" {
		return &centrifugo{base: base, apiKey: cfg.apiKey}
	}
	return &cloakroom{base: base}
}

// run carries out one run and describes it; a failure to set the run up
// is an error, while what goes wrong under load is part of the result.
func run(ctx context.Context, cfg *config) (*result, error) {
	res := &result{
		Target: cfg.target, Scenario: cfg.scenario, Kind: cfg.kind,
		Started: time.Now().UTC(), Load: loadAverage(),
		Params: params{
			Rooms: cfg.rooms, Readers: cfg.readers, Frozen: cfg.frozen, RcvBuf: cfg.rcvbuf,
			Rate: cfg.rate, Size: cfg.size, Conns: cfg.conns,
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

// connect opens healthy readers over the rooms (reader i in room i mod
// rooms), in event loops, one per CPU the tool may use, and frozen readers
// in room 0, each reading as soon as it is connected. On error it closes
// what it opened.
func connect(ctx context.Context, t target, rooms []string, healthy, frozen, rcvbuf, buf int, c clock, w *window, ordered func(int, uint64, uint64) bool) ([]*reader, []*reader, error) {
	var loops []*evloop
	for range min(runtime.GOMAXPROCS(0), healthy) {
		l, err := newEvloop(c, w)
		if err != nil {
			for _, l := range loops {
				l.stop()
			}
			return nil, nil, err
		}
		loops = append(loops, l)
	}
	readers := make([]*reader, healthy+frozen)
	for i := range readers {
		if i < healthy {
			readers[i] = newReader(i%len(rooms), false)
		} else {
			readers[i] = newReader(0, true)
			readers[i].buf = buf
		}
		readers[i].ordered = ordered
	}
	type job struct {
		i int
		r *reader
	}
	jobs := make(chan job)
	errs := make(chan error, len(readers))
	var wg sync.WaitGroup
	for range min(connectParallel, len(readers)) {
		wg.Go(func() {
			for j := range jobs {
				url := t.streamURL(rooms[j.r.room])
				if !j.r.frozen {
					if err := loops[j.i%len(loops)].open(j.r, url, 30*time.Second); err != nil {
						errs <- err
					}
					continue
				}
				body, err := openStream(ctx, frozenClient(rcvbuf, &j.r.conn), url)
				if err != nil {
					errs <- err
					continue
				}
				j.r.closer = func() { body.Close() }
				go j.r.read(body, c, w)
			}
		})
	}
	for i, r := range readers {
		jobs <- job{i, r}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeAll(readers)
		for _, l := range loops {
			l.stop()
		}
		return nil, nil, fmt.Errorf("connect a reader: %w", err)
	}
	return readers[:healthy], readers[healthy:], nil
}

// closeAll closes every opened reader and waits for them.
func closeAll(readers []*reader) {
	for _, r := range readers {
		r.close()
	}
}

// lineBuffer fits a whole event of the given text size on one line.
func lineBuffer(size int) int {
	return max(4<<10, 2*size+1024)
}

// sampler takes the snapshots of both processes the window is measured by.
type sampler struct {
	pid     int
	clock   clock
	at      time.Duration
	server  procSample
	self    time.Duration
	machine machineCPU
	err     error
	merr    error
}

func (s *sampler) take() {
	s.at = s.clock.now()
	s.self = selfCPU()
	s.machine, s.merr = sampleMachine()
	if s.pid > 0 {
		s.server, s.err = sampleProc(s.pid)
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

// runStreams is the fan-out measurement: readers over rooms, an open-loop
// publisher, the window after the warm-up, then a drain for late messages.
// A stuck run ends as soon as every frozen reader is cut.
func runStreams(ctx context.Context, cfg *config, res *result) error {
	t := newTarget(cfg)
	rooms := roomNames(cfg.rooms)
	if err := t.setup(ctx, setupClient(), rooms); err != nil {
		return err
	}
	c := clock{start: time.Now()}
	w := newWindow()
	pub := newPublisher(t, hostOf(cfg.url), c, cfg.rooms, cfg.rate, cfg.size, cfg.warmup+cfg.duration)
	healthy, frozen, err := connect(ctx, t, rooms, cfg.readers, cfg.frozen, cfg.rcvbuf, lineBuffer(cfg.size), c, w, pub.ordered)
	if err != nil {
		return err
	}
	defer closeAll(append(healthy, frozen...))

	pub.start = c.now() + 100*time.Millisecond
	from, to := pub.start+cfg.warmup, pub.start+cfg.warmup+cfg.duration
	w.set(from, to)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pubDone := make(chan struct{})
	go func() { pub.run(pubCtx); close(pubDone) }()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	cuts := make([]cut, len(frozen))
	allCut := make(chan struct{})
	var watching sync.WaitGroup
	for i, r := range frozen {
		watching.Go(func() { cuts[i] = watchCut(watchCtx, c, r) })
	}
	go func() { watching.Wait(); close(allCut) }()

	a, b := &sampler{pid: cfg.serverPID, clock: c}, &sampler{pid: cfg.serverPID, clock: c}
	c.sleepUntil(ctx, from)
	a.take()
	end := time.NewTimer(max(to-c.now(), 0))
	defer end.Stop()
	var early <-chan struct{}
	if cfg.kind == kindStuck {
		early = allCut
	}
	select {
	case <-end.C:
	case <-early:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.take()
	window := measure(cfg, res, a, b)
	if cfg.kind == kindStuck {
		stopPub()
	}
	<-pubDone
	stopWatch()
	watching.Wait()

	drain(ctx, pub, healthy, cfg.drain)
	closeAll(append(healthy, frozen...))

	res.Stream = streamFigures(pub, healthy, window)
	if s := res.Server; s != nil && s.SampleError == "" && res.Stream.Deliveries > 0 {
		s.CPUUsPerDeliv = s.CPUS * 1e6 / float64(res.Stream.Deliveries)
		s.WritesPerDeliv = float64(s.WriteSyscalls) / float64(res.Stream.Deliveries)
	}
	for i, r := range frozen {
		res.Frozen = append(res.Frozen, frozenFigures(r, cuts[i], b.at))
	}
	return nil
}

// drain waits, up to limit, until every healthy reader still connected has
// every message its room accepted.
func drain(ctx context.Context, pub *publisher, readers []*reader, limit time.Duration) {
	want := make([]uint64, pub.rooms)
	for room := range want {
		want[room] = pub.accepted(room)
	}
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		missing := false
		for _, r := range readers {
			select {
			case <-r.done:
				continue
			default:
			}
			if r.distinct.Load() < want[r.room] {
				missing = true
				break
			}
		}
		if !missing {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// streamFigures totals the healthy readers and the publisher.
func streamFigures(pub *publisher, readers []*reader, window time.Duration) *streamStats {
	s := &streamStats{MinReceived: ^uint64(0)}
	var lat histogram
	cutReasons := map[string]int{}
	for _, r := range readers {
		s.Deliveries += r.inWindow
		s.Received += r.log.received
		s.Duplicates += r.log.dups
		s.Reorders += r.reorders
		s.Late += r.log.late
		s.MinReceived = min(s.MinReceived, r.log.received)
		s.MaxReceived = max(s.MaxReceived, r.log.received)
		if lost := pub.lost(r); lost > 0 {
			s.Lost += lost
			s.ReadersWithLoss++
		}
		if r.err != nil {
			s.ReadersCut++
			cutReasons[streamEndReason(r.err)]++
		}
		lat.merge(&r.hist)
	}
	if len(readers) == 0 {
		s.MinReceived = 0
	}
	s.CutReasons = sortedFailures(cutReasons)
	s.DeliveriesPerS = float64(s.Deliveries) / window.Seconds()
	s.Latency = summarize(&lat)
	s.Sent, s.Accepted, s.Failed = pub.counts()
	s.Failures = pub.failureList()
	s.Overlaps = pub.overlaps.Load()
	s.SendLagMs = summarize(&pub.lag)
	return s
}

// streamEndReason names why a stream ended, without addresses.
func streamEndReason(err error) string {
	var nerr *net.OpError
	if errors.As(err, &nerr) {
		return nerr.Err.Error()
	}
	return err.Error()
}

// frozenFigures describes a frozen reader: what it got before it stopped
// (a gap-free run from its first message, if the server keeps its promise)
// and when the server cut it, measured from when it stopped reading.
func frozenFigures(r *reader, k cut, end time.Duration) frozenStat {
	f := frozenStat{Received: r.log.received, StoppedS: r.stoppedAt.Seconds(), SeenBy: k.seenBy}
	if first := firstSeen(&r.log); first > 0 {
		f.Gaps = r.log.gaps(first)
	}
	if k.at > 0 {
		after := (k.at - r.stoppedAt).Seconds()
		f.CutAfterS = &after
		f.WatchedS = after
	} else {
		f.WatchedS = (end - r.stoppedAt).Seconds()
	}
	return f
}

// firstSeen is the lowest sequence a log holds, 0 if none.
func firstSeen(l *seqLog) uint64 {
	for s := uint64(1); s <= l.max; s++ {
		if l.has(s) {
			return s
		}
	}
	return 0
}

// runIdle measures the server's resident memory per idle stream: one
// stream first (it pays for code and pools), a sample, then the rest, and a
// second sample after the settle time.
func runIdle(ctx context.Context, cfg *config, res *result) error {
	if cfg.serverPID <= 0 {
		return errors.New("an idle run measures the server's memory: give -server-pid")
	}
	t := newTarget(cfg)
	rooms := roomNames(cfg.rooms)
	if err := t.setup(ctx, setupClient(), rooms); err != nil {
		return err
	}
	c := clock{start: time.Now()}
	w := newWindow()
	warm, _, err := connect(ctx, t, rooms, 1, 0, 0, lineBuffer(0), c, w, nil)
	if err != nil {
		return err
	}
	defer closeAll(warm)
	c.sleepUntil(ctx, c.now()+time.Second)
	a := &sampler{pid: cfg.serverPID, clock: c}
	a.take()
	streams, _, err := connect(ctx, t, rooms, cfg.readers, 0, 0, lineBuffer(0), c, w, nil)
	if err != nil {
		return err
	}
	defer closeAll(streams)
	c.sleepUntil(ctx, c.now()+cfg.settle)
	b := &sampler{pid: cfg.serverPID, clock: c}
	b.take()
	measure(cfg, res, a, b)
	res.Void, res.VoidReason = false, "" // nothing flows: the generator cannot be the bottleneck
	if a.err != nil || b.err != nil {
		return errors.Join(a.err, b.err)
	}
	cut := 0
	for _, r := range streams {
		select {
		case <-r.done:
			cut++
		default:
		}
	}
	if cut > 0 {
		return fmt.Errorf("%d of %d idle streams ended during the settle time", cut, len(streams))
	}
	res.Idle = &idleStats{
		Streams:      len(streams),
		RSSBeforeMiB: mib(a.server.rss),
		RSSAfterMiB:  mib(b.server.rss),
		PerStreamKiB: (float64(b.server.rss) - float64(a.server.rss)) / 1024 / float64(len(streams)),
	}
	return nil
}

// runPosts measures posts per second into a room nobody reads: conns
// workers, each on its own keep-alive connection, post one message after
// another as fast as the replies come (a closed loop).
func runPosts(ctx context.Context, cfg *config, res *result) error {
	t := newTarget(cfg)
	rooms := roomNames(1)
	if err := t.setup(ctx, setupClient(), rooms); err != nil {
		return err
	}
	poster := newPoster(hostOf(cfg.url), cfg.conns)
	c := clock{start: time.Now()}
	from := c.now() + cfg.warmup
	to := from + cfg.duration
	w := newWindow()
	w.set(from, to)
	var (
		mu       sync.Mutex
		lat      histogram
		posts    uint64
		failed   uint64
		failures = map[string]int{}
	)
	var seq atomic.Uint64
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for range cfg.conns {
		wg.Go(func() {
			var own histogram
			var n, bad uint64
			reasons := map[string]int{}
			for runCtx.Err() == nil && c.now() < to {
				s := seq.Add(1)
				sent := c.now()
				text, err := messageText(s, sent, cfg.size)
				if err == nil {
					head, body := t.post(0, s, text)
					var r reply
					if r, err = poster.do(runCtx, head, body); err == nil {
						err = t.accepted(r)
					}
				}
				done := c.now()
				if !w.contains(done) {
					continue
				}
				if err != nil {
					bad++
					reasons[failureReason(err)]++
					continue
				}
				n++
				own.record(done - sent)
			}
			mu.Lock()
			defer mu.Unlock()
			lat.merge(&own)
			posts += n
			failed += bad
			for r, k := range reasons {
				failures[r] += k
			}
		})
	}
	a, b := &sampler{pid: cfg.serverPID, clock: c}, &sampler{pid: cfg.serverPID, clock: c}
	c.sleepUntil(ctx, from)
	a.take()
	c.sleepUntil(ctx, to)
	b.take()
	window := measure(cfg, res, a, b)
	wg.Wait()
	res.Posts = &postStats{
		Posts: posts, PostsPerS: float64(posts) / window.Seconds(),
		Latency: summarize(&lat), Failed: failed, Failures: sortedFailures(failures),
	}
	if s := res.Server; s != nil && s.SampleError == "" && posts > 0 {
		s.CPUUsPerPost = s.CPUS * 1e6 / float64(posts)
		s.WritesPerPost = float64(s.WriteSyscalls) / float64(posts)
	}
	return nil
}

// hostOf is the host:port of a base URL.
func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Host
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
