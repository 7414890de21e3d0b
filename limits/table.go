package limits

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// entry is what a table remembers of one client or member.
type entry[K comparable] struct {
	key          K
	streams      int           // open streams (clients only)
	joins, posts *rate.Limiter // nil where that limit is off
	used         time.Time     // the last call about it
	// prev and next link the entry into its table's idle ring while it
	// holds no stream; both are nil otherwise.
	prev, next *entry[K]
}

// table remembers entries by key: those holding a stream for as long as
// they do, and the others until keep has passed since their last use, at
// most max of them (least recently used forgotten first).
type table[K comparable] struct {
	mu      sync.Mutex
	entries map[K]*entry[K]
	idle    entry[K] // the ring's sentinel: idle.next is the most recently used
	nidle   int
	max     int
	keep    time.Duration
	fresh   func(K) *entry[K]
}

func newTable[K comparable](max int, keep time.Duration, fresh func(K) *entry[K]) *table[K] {
	t := &table[K]{entries: make(map[K]*entry[K]), max: max, keep: keep, fresh: fresh}
	t.idle.prev, t.idle.next = &t.idle, &t.idle
	return t
}

// with calls fn with k's entry (a fresh one if none is remembered) under
// the table's lock, then files the entry by what fn left, as used at now.
// Callers' clocks may cross on the way to the lock, which leaves the idle
// ring out of time order by as much; that only delays a forgetting.
func (t *table[K]) with(k K, now time.Time, fn func(e *entry[K])) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	e := t.entries[k]
	switch {
	case e == nil:
		if t.nidle >= t.max {
			t.forget(t.idle.prev)
		}
		e = t.fresh(k)
		t.entries[k] = e
	case e.next != nil:
		t.unlink(e)
	}
	fn(e)
	if now.After(e.used) {
		e.used = now
	}
	switch {
	case e.streams > 0:
		// Held by its streams; filed again when the last one ends.
	case t.keep <= 0:
		delete(t.entries, k) // nothing to remember: no buckets
	default:
		e.prev, e.next = &t.idle, t.idle.next
		e.next.prev = e
		t.idle.next = e
		t.nidle++
	}
}

// expire forgets the idle entries unused for keep: their buckets are full
// again, so a fresh entry would be the same.
func (t *table[K]) expire(now time.Time) {
	for last := t.idle.prev; last != &t.idle && now.Sub(last.used) >= t.keep; last = t.idle.prev {
		t.forget(last)
	}
}

// forget drops an idle entry.
func (t *table[K]) forget(e *entry[K]) {
	t.unlink(e)
	delete(t.entries, e.key)
}

func (t *table[K]) unlink(e *entry[K]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	t.nidle--
}

func (t *table[K]) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(time.Now())
}

func (t *table[K]) streams(k K) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[k]; e != nil {
		return e.streams
	}
	return 0
}

func (t *table[K]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
