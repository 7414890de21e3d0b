package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"
)

// connectParallel is how many readers connect at once: enough to open
// thousands quickly, few enough not to overflow the server's accept queue.
const connectParallel = 32

// connect opens healthy readers over the rooms (reader i in room i mod
// rooms, on node i/rooms mod len(bases), so that each room's readers are
// spread over the nodes), in event loops, one per CPU the tool may use, and frozen readers
// in room 0 on the first node, each reading as soon as it is connected. On error it closes
// what it opened.
func connect(ctx context.Context, t target, bases, rooms []string, healthy, frozen, rcvbuf, buf int, c clock, w *window, ordered func(int, uint64, uint64) bool) ([]*reader, []*reader, error) {
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
				base := bases[0]
				if !j.r.frozen {
					base = bases[j.i/len(rooms)%len(bases)]
				}
				url := t.streamURL(strings.TrimRight(base, "/"), rooms[j.r.room])
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
	pub := newPublisher(t, hostsOf(cfg.postURLs), c, cfg.rooms, cfg.rate, cfg.size, cfg.warmup+cfg.duration)
	healthy, frozen, err := connect(ctx, t, cfg.readURLs, rooms, cfg.readers, cfg.frozen, cfg.rcvbuf, lineBuffer(cfg.size), c, w, pub.ordered)
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

	a, b := newSampler(cfg, c), newSampler(cfg, c)
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
