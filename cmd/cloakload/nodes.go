package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// procFigures describes the -procs processes between two samples.
func procFigures(procs []namedPID, a, b *sampler, window time.Duration) ([]procStat, string) {
	if len(procs) == 0 {
		return nil, ""
	}
	if err := errors.Join(a.perr, b.perr); err != nil {
		return nil, err.Error()
	}
	out := make([]procStat, len(procs))
	for i, p := range procs {
		x, y := a.procSamples[i], b.procSamples[i]
		out[i] = procStat{
			Name: p.name, PID: p.pid,
			CPUPc:        100 * (y.cpu - x.cpu).Seconds() / window.Seconds(),
			RSSBeforeMiB: mib(x.rss), RSSMiB: mib(y.rss), PeakMiB: mib(y.hwm),
		}
	}
	return out, ""
}

// scrapeCounters reads Prometheus text from each URL and sums the samples
// whose metric name starts with prefix, by name (over labels and URLs).
func scrapeCounters(urls []string, prefix string) (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	sums := map[string]float64{}
	for _, u := range urls {
		resp, err := c.Get(u)
		if err != nil {
			return nil, err
		}
		err = parseCounters(resp.Body, prefix, sums)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
	}
	return sums, nil
}

// parseCounters adds each sample line "name{labels} value" whose name
// starts with prefix to sums.
func parseCounters(r io.Reader, prefix string, sums map[string]float64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue // comments, other metrics
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			// Label values may hold spaces; the value follows the last '}'.
			name, rest = line[:i], line[strings.LastIndexByte(line, '}')+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return fmt.Errorf("value of %s: %w", name, err)
		}
		sums[name] += v
	}
	return sc.Err()
}

// runMemory samples the processes once: their memory, no load.
func runMemory(_ context.Context, cfg *config, res *result) error {
	c := clock{start: time.Now()}
	a := newSampler(cfg, c)
	a.take()
	res.Procs, res.ProcError = procFigures(cfg.procs, a, a, time.Second)
	for i := range res.Procs {
		res.Procs[i].CPUPc = 0 // not measured: no window
	}
	if cfg.serverPID > 0 {
		if a.err != nil {
			return a.err
		}
		res.Server = &serverStats{RSSMiB: mib(a.server.rss), PeakMiB: mib(a.server.hwm), CPUResolutionMs: 1000 / userHZ}
	}
	if res.ProcError != "" {
		return errors.New(res.ProcError)
	}
	return nil
}

// runResume fills one room with events messages through the post nodes,
// then opens tries fresh readers one after another, on the read nodes in
// turn, each resuming from newest−events with Last-Event-ID, and times
// each from its request to the newest event. A reader must get exactly
// the ids after its resume point, in order, and no reset.
func runResume(ctx context.Context, cfg *config, res *result) error {
	t := newTarget(cfg)
	cr, ok := t.(*cloakroom)
	if !ok {
		return errors.New("resume runs are for Cloakroom only")
	}
	rooms := roomNames(1)
	if err := t.setup(ctx, setupClient(), rooms); err != nil {
		return err
	}
	c := clock{start: time.Now()}
	fillStart := c.now()
	newest, err := fill(ctx, cr, cfg, c)
	if err != nil {
		return err
	}
	rs := &resumeStats{Events: cfg.events, Tries: cfg.tries, FillPerS: float64(cfg.events) / (c.now() - fillStart).Seconds()}
	res.Resume = rs
	a, b := newSampler(cfg, c), newSampler(cfg, c)
	a.take()
	var lat histogram
	failures := map[string]int{}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}
	for i := range cfg.tries {
		base := strings.TrimRight(cfg.readURLs[i%len(cfg.readURLs)], "/")
		took, err := resumeOnce(ctx, client, t.streamURL(base, rooms[0]), newest-uint64(cfg.events), newest)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failures[err.Error()]++
			continue
		}
		rs.OK++
		if i == 0 {
			rs.ColdMs = ms(took)
			continue
		}
		lat.record(took)
	}
	b.take()
	measure(cfg, res, a, b)
	res.Void, res.VoidReason = false, "" // one reader at a time: the generator is not the bottleneck
	rs.Latency = summarize(&lat)
	rs.Failures = sortedFailures(failures)
	return nil
}

// fill posts n messages into the room, cfg.conns at a time spread over the
// post nodes, and returns the highest id the server gave them.
func fill(ctx context.Context, t *cloakroom, cfg *config, c clock) (uint64, error) {
	hosts := hostsOf(cfg.postURLs)
	posters := make([]*poster, len(hosts))
	for i, h := range hosts {
		posters[i] = newPoster(h, cfg.conns)
	}
	type outcome struct {
		id  uint64
		err error
	}
	jobs := make(chan uint64)
	out := make(chan outcome, cfg.conns)
	for j := range cfg.conns {
		p := posters[j%len(posters)]
		go func() {
			var best uint64
			var firstErr error
			for s := range jobs {
				text, err := messageText(s, c.now(), cfg.size)
				var r reply
				if err == nil {
					head, body := t.post(0, s, text)
					if r, err = p.do(ctx, head, body); err == nil {
						err = t.accepted(r)
					}
				}
				if err != nil {
					firstErr = cmp.Or(firstErr, err)
					continue
				}
				id, err := replyID(r.body)
				if err != nil {
					firstErr = cmp.Or(firstErr, err)
				}
				best = max(best, id)
			}
			out <- outcome{best, firstErr}
		}()
	}
	for s := range uint64(cfg.events) {
		select {
		case jobs <- s + 1:
		case <-ctx.Done():
		}
	}
	close(jobs)
	var newest uint64
	var errs []error
	for range cfg.conns {
		o := <-out
		newest = max(newest, o.id)
		if o.err != nil {
			errs = append(errs, o.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("fill the room: %w", err)
	}
	return newest, ctx.Err()
}

// replyID reads {"id": N} from a post's reply.
func replyID(body []byte) (uint64, error) {
	_, rest, ok := bytes.Cut(body, []byte(`"id":`))
	if !ok {
		return 0, errors.New("a post's reply without an id")
	}
	n, _, ok := leadingNumber(bytes.TrimLeft(rest, " "))
	if !ok {
		return 0, errors.New("a post's reply with a bad id")
	}
	return n, nil
}

// resumeOnce opens url with Last-Event-ID from and reads events until the
// one with id to, checking that ids run from+1…to without a gap or a
// reset. It is timed from sending the request.
func resumeOnce(ctx context.Context, client *http.Client, url string, from, to uint64) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatUint(from, 10))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, errors.New("connect failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, statusError(resp.StatusCode)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	want := from + 1
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n') // a long data line: only id and event lines matter
			}
			continue
		}
		if err != nil {
			return 0, errors.New("stream ended early")
		}
		line = bytes.TrimRight(line, "\r\n")
		if bytes.Equal(line, []byte("event: reset")) {
			return 0, errors.New("reset")
		}
		idText, ok := bytes.CutPrefix(line, []byte("id:"))
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(string(bytes.TrimSpace(idText)), 10, 64)
		if err != nil {
			return 0, errors.New("a bad id")
		}
		if id != want {
			return 0, errors.New("a gap or a repeat")
		}
		if id == to {
			return time.Since(start), nil
		}
		want++
	}
}
