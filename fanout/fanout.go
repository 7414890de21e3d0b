// Package fanout carries Server-Sent Events frames from a publisher to every
// reader of a topic (in Cloakroom, one room in one data format).
//
// A frame is made once (NewFrame) and the same bytes go to every reader:
// nothing is formatted or copied per reader. Publish appends the frame to
// the topic's ring and wakes the readers; it never waits on a reader. Each
// reader's own goroutine (the request's) takes what it has not sent from the
// ring and writes it in one write (a writev of the shared frames), so a
// reader that is behind catches up in one system call, not one per event.
//
// A reader that falls behind is cut off: when its oldest event not yet
// taken by the network is older than MaxLag (the watchdog looks every
// Check), or when the ring has dropped a frame it had not taken. Frames
// published while a reader's owner sends it a backlog (before Serve) count
// from when Serve begins. Its write is ended at once (Conn.Abort). What a
// cut-off reader was sent is always a gap-free run of events, so it resumes
// with Last-Event-ID.
package fanout

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Config holds a Hub's settings. Zero fields take the defaults below.
type Config struct {
	// MaxLag is how old a reader's oldest unsent event may grow before the
	// reader is cut off. Default 2.5 s.
	MaxLag time.Duration
	// Check is how often the watchdog measures every reader's lag.
	// Default 250 ms; a reader is cut within MaxLag+Check of falling behind.
	Check time.Duration
	// Coalesce bounds how long a frame may wait to be written so that
	// several go out in one write. A topic's readers are woken at most once
	// per window, and the window grows with the readers: Coalesce×n/1000 for
	// n readers, Coalesce from 1000 on. So a topic costs at most about
	// 1000/Coalesce writes per second in all (25,000 at the default), a
	// room with few readers is written at once, and a frame after a quiet
	// spell always goes out at once. Default 40 ms (four frames per write at
	// 100 frames/s and 1000 readers); negative turns it off.
	Coalesce time.Duration
	// RingFrames and RingBytes bound the frames a topic keeps for readers
	// that have not taken them. Defaults 4096 frames, 8 MiB; the newest
	// frame is kept whatever its size.
	RingFrames int
	RingBytes  int
	// Heartbeat is how long a reader may go without a write before it is
	// sent the Heartbeat comment. Default 20 s.
	Heartbeat time.Duration
	// OnWrite, if not nil, is called after each write of live frames to a
	// reader with the number of frames it carried: 1 for a reader that
	// keeps up, more for one catching up or a burst coalesced. It runs on
	// the reader's goroutine, on the hot path: it must be quick and must
	// not block (an atomic histogram, not a lock).
	OnWrite func(frames int)
}

// Defaults for Config.
const (
	DefaultMaxLag     = 2500 * time.Millisecond
	DefaultCheck      = 250 * time.Millisecond
	DefaultCoalesce   = 40 * time.Millisecond
	DefaultRingFrames = 4096
	DefaultRingBytes  = 8 << 20
	DefaultHeartbeat  = 20 * time.Second
)

func (c Config) withDefaults() Config {
	if c.MaxLag <= 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.Check <= 0 {
		c.Check = DefaultCheck
	}
	if c.Coalesce == 0 {
		c.Coalesce = DefaultCoalesce
	}
	if c.RingFrames <= 0 {
		c.RingFrames = DefaultRingFrames
	}
	if c.RingBytes <= 0 {
		c.RingBytes = DefaultRingBytes
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	return c
}

// Errors a Reader ends with.
var (
	ErrClosed = errors.New("fanout: the hub is closed")
	ErrBehind = errors.New("fanout: the reader fell too far behind and was cut off")
	ErrGone   = errors.New("fanout: the reader went away")
)

// A Hub holds the topics that have readers. It is safe for concurrent use.
type Hub struct {
	cfg Config

	mu       sync.Mutex
	topics   map[string]*topic
	readers  int
	watching bool // the watchdog goroutine runs; it stops when readers is 0
	closed   bool

	// What Stats reports: atomic adds where it happens, one per write.
	delivered, placed, bytes atomic.Uint64
	cutLag, cutRing          atomic.Uint64
}

// Stats is a snapshot of a Hub's work, for monitoring. The counts are since
// the Hub was made.
type Stats struct {
	Readers int // readers now, over all topics

	Delivered uint64 // frames Serve wrote to readers, each frame once per reader
	Placed    uint64 // of those, Placed frames
	// Bytes is every byte written to readers' connections (what
	// Conn.WriteBuffers reports): live frames, what owners Send (backlogs)
	// and heartbeats.
	Bytes uint64

	// Readers cut off for falling behind (ErrBehind): CutLag for an oldest
	// unsent event older than MaxLag, CutRing for a frame the ring dropped
	// before the reader took it.
	CutLag  uint64
	CutRing uint64
}

// Stats returns the hub's counts now.
func (h *Hub) Stats() Stats {
	return Stats{
		Readers:   h.Readers(),
		Delivered: h.delivered.Load(),
		Placed:    h.placed.Load(),
		Bytes:     h.bytes.Load(),
		CutLag:    h.cutLag.Load(),
		CutRing:   h.cutRing.Load(),
	}
}

// New returns a Hub with no topics.
func New(cfg Config) *Hub {
	return &Hub{cfg: cfg.withDefaults(), topics: make(map[string]*topic)}
}

// Has reports whether a topic has readers, so a publisher can skip making
// frames nobody would get.
func (h *Hub) Has(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.topics[key] != nil
}

// Readers returns the number of readers over all topics.
func (h *Hub) Readers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.readers
}

// Publish hands f to every reader of the topic key; a topic without readers
// drops it. Frames of one topic must be published in order, by one caller
// at a time. It does not block on readers.
func (h *Hub) Publish(key string, f *Frame) {
	h.mu.Lock()
	t := h.topics[key]
	h.mu.Unlock()
	if t != nil {
		t.publish(f)
	}
}

// Subscribe adds a reader of the topic key, writing through conn. The
// reader gets every frame published from now on until it is closed or cut
// off. The error is ErrClosed once Close has been called.
func (h *Hub) Subscribe(key string, conn Conn) (*Reader, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	t := h.topics[key]
	if t == nil {
		t = &topic{hub: h, key: key, readers: make(map[*Reader]struct{})}
		h.topics[key] = t
	}
	r := &Reader{
		hub: h, topic: t, conn: conn,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	t.mu.Lock()
	r.next = t.head
	t.readers[r] = struct{}{}
	t.mu.Unlock()
	h.readers++
	if !h.watching {
		h.watching = true
		go h.watch()
	}
	return r, nil
}

// Close ends every reader with ErrClosed; Subscribe fails from then on.
// Their connections are not aborted: each reader's Serve returns, and its
// owner closes the connection after what was written. A reader stuck in a
// write is still cut off by the watchdog.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*Reader
	for _, t := range h.topics {
		t.mu.Lock()
		for r := range t.readers {
			all = append(all, r)
		}
		t.mu.Unlock()
	}
	h.mu.Unlock()
	for _, r := range all {
		r.end(ErrClosed)
	}
}

// leave removes a closed reader, and its topic with the last one.
func (h *Hub) leave(r *Reader) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := r.topic
	t.mu.Lock()
	delete(t.readers, r)
	empty := len(t.readers) == 0
	if empty {
		t.gone = true
		clear(t.frames)
		t.frames = nil
		if t.timer != nil {
			t.timer.Stop()
		}
	}
	t.mu.Unlock()
	if empty && h.topics[t.key] == t {
		delete(h.topics, t.key)
	}
	h.readers--
}

// watch runs the watchdog while there are readers.
func (h *Hub) watch() {
	tick := time.NewTicker(h.cfg.Check)
	defer tick.Stop()
	var topics []*topic
	var due []cutoff
	for range tick.C {
		h.mu.Lock()
		if h.readers == 0 {
			h.watching = false
			h.mu.Unlock()
			return
		}
		topics = topics[:0]
		for _, t := range h.topics {
			topics = append(topics, t)
		}
		h.mu.Unlock()
		now := time.Now()
		for _, t := range topics {
			due = t.lagging(now, h.cfg.MaxLag, due[:0])
			for _, c := range due {
				c.r.cutBehind(c.overrun)
			}
		}
		clear(topics)
		clear(due)
	}
}

// topic is one topic's ring of recent frames and its readers.
type topic struct {
	hub *Hub
	key string

	mu      sync.Mutex
	frames  []*Frame // frames[i] has sequence number tail+i
	tail    uint64   // sequence number of the oldest frame kept
	head    uint64   // sequence number the next frame gets
	bytes   int      // sum of len(Data) over frames
	readers map[*Reader]struct{}
	gone    bool // the last reader left; frames published now are dropped

	lastWake time.Time
	timer    *time.Timer // the pending wake-up, when one is scheduled
	pending  bool
}

func (t *topic) publish(f *Frame) {
	cfg := &t.hub.cfg
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gone {
		return
	}
	t.frames = append(t.frames, f)
	t.head++
	t.bytes += len(f.Data)
	for len(t.frames) > 1 && (len(t.frames) > cfg.RingFrames || t.bytes > cfg.RingBytes) {
		t.bytes -= len(t.frames[0].Data)
		t.frames[0] = nil
		t.frames = t.frames[1:]
		t.tail++
	}
	if t.pending {
		return // the scheduled wake-up will take this frame too
	}
	wait := t.window() - f.At.Sub(t.lastWake)
	if wait <= 0 {
		t.wakeLocked(f.At)
		return
	}
	t.pending = true
	if t.timer == nil {
		t.timer = time.AfterFunc(wait, t.scheduledWake)
	} else {
		t.timer.Reset(wait)
	}
}

// trim lets go of the frames every reader has taken. t.mu is held.
func (t *topic) trim() {
	taken := t.head
	for r := range t.readers {
		taken = min(taken, r.next)
	}
	for t.tail < taken && len(t.frames) > 0 {
		t.bytes -= len(t.frames[0].Data)
		t.frames[0] = nil
		t.frames = t.frames[1:]
		t.tail++
	}
	if len(t.frames) == 0 {
		t.frames = nil // and the array behind it
	}
}

// window is the shortest time between two wake-ups of the topic's readers
// (see Config.Coalesce). t.mu is held.
func (t *topic) window() time.Duration {
	c := t.hub.cfg.Coalesce
	if c <= 0 {
		return 0
	}
	return c * time.Duration(min(len(t.readers), coalesceReaders)) / coalesceReaders
}

// coalesceReaders is the number of readers from which a topic's wake-ups
// are a whole Coalesce apart.
const coalesceReaders = 1000

func (t *topic) scheduledWake() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gone || !t.pending {
		return
	}
	t.wakeLocked(time.Now())
}

func (t *topic) wakeLocked(now time.Time) {
	t.pending = false
	t.lastWake = now
	for r := range t.readers {
		select {
		case r.wake <- struct{}{}:
		default: // told already
		}
	}
}

// A cutoff is a reader to cut off, and why: overrun when the ring dropped
// a frame it had not taken, else its lag.
type cutoff struct {
	r       *Reader
	overrun bool
}

// lagging appends the readers to cut off: those the ring has dropped a
// frame of, and those whose oldest unsent event is older than maxLag.
func (t *topic) lagging(now time.Time, maxLag time.Duration, out []cutoff) []cutoff {
	type check struct {
		r      *Reader
		oldest time.Time // of the frames in the ring it has not taken
	}
	var checks []check
	t.mu.Lock()
	t.trim()
	for r := range t.readers {
		switch {
		case r.next < t.tail:
			out = append(out, cutoff{r: r, overrun: true})
		case r.next < t.head:
			checks = append(checks, check{r, t.frames[r.next-t.tail].At})
		default:
			checks = append(checks, check{r: r})
		}
	}
	t.mu.Unlock()
	// Asking the kernel what a connection holds is a system call: done
	// without the topic's lock, so publishing never waits on it.
	for _, c := range checks {
		oldest := c.r.oldestUnsent(c.oldest)
		if !oldest.IsZero() && now.Sub(oldest) > maxLag {
			out = append(out, cutoff{r: c.r})
		}
	}
	return out
}
