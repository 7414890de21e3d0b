package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runIdle measures the server's resident memory per idle stream: one
// stream first (it pays for code and pools), a sample, then the rest, and a
// second sample after the settle time.
func runIdle(ctx context.Context, cfg *config, res *result) error {
	if cfg.serverPID <= 0 && len(cfg.procs) == 0 {
		return errors.New("an idle run measures the server's memory: give -server-pid or -procs")
	}
	t := newTarget(cfg)
	rooms := roomNames(cfg.rooms)
	if err := t.setup(ctx, setupClient(), rooms); err != nil {
		return err
	}
	c := clock{start: time.Now()}
	w := newWindow()
	warm, _, err := connect(ctx, t, cfg.readURLs, rooms, 1, 0, 0, lineBuffer(0), c, w, nil)
	if err != nil {
		return err
	}
	defer closeAll(warm)
	c.sleepUntil(ctx, c.now()+time.Second)
	a := newSampler(cfg, c)
	a.take()
	streams, _, err := connect(ctx, t, cfg.readURLs, rooms, cfg.readers, 0, 0, lineBuffer(0), c, w, nil)
	if err != nil {
		return err
	}
	defer closeAll(streams)
	c.sleepUntil(ctx, c.now()+cfg.settle)
	b := newSampler(cfg, c)
	b.take()
	measure(cfg, res, a, b)
	res.Void, res.VoidReason = false, "" // nothing flows: the generator cannot be the bottleneck
	if a.err != nil || b.err != nil || a.perr != nil || b.perr != nil {
		return errors.Join(a.err, b.err, a.perr, b.perr)
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
	if cfg.serverPID <= 0 {
		return nil // the processes' figures say it
	}
	res.Idle = &idleStats{
		Streams:      len(streams),
		RSSBeforeMiB: mib(a.server.rss),
		RSSAfterMiB:  mib(b.server.rss),
		PerStreamKiB: (float64(b.server.rss) - float64(a.server.rss)) / 1024 / float64(len(streams)),
	}
	return nil
}

// runPosts measures posts per second into rooms nobody reads: conns
// workers, each on its own keep-alive connection (worker j to node j mod
// nodes), post one message after another as fast as the replies come (a
// closed loop), message s into room s mod rooms.
func runPosts(ctx context.Context, cfg *config, res *result) error {
	t := newTarget(cfg)
	rooms := roomNames(cfg.rooms)
	if err := t.setup(ctx, setupClient(), rooms); err != nil {
		return err
	}
	hosts := hostsOf(cfg.postURLs)
	posters := make([]*poster, len(hosts))
	for i, h := range hosts {
		posters[i] = newPoster(h, cfg.conns)
	}
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
	for j := range cfg.conns {
		poster := posters[j%len(posters)]
		wg.Go(func() {
			var own histogram
			var n, bad uint64
			reasons := map[string]int{}
			for runCtx.Err() == nil && c.now() < to {
				s := seq.Add(1)
				sent := c.now()
				text, err := messageText(s, sent, cfg.size)
				if err == nil {
					head, body := t.post(int(s%uint64(len(rooms))), s, text)
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
	a, b := newSampler(cfg, c), newSampler(cfg, c)
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
