package chat

import (
	"context"
	"sync"
)

// MemoryLog is a Log held in this process: per room, a ring of the newest
// records, as many as its retention. It is safe for concurrent use.
type MemoryLog struct {
	keep int

	mu    sync.Mutex
	rooms map[string]*ring
}

// NewMemoryLog returns a MemoryLog that keeps the newest keep (≥ 1) records
// of each room.
func NewMemoryLog(keep int) *MemoryLog {
	return &MemoryLog{keep: max(keep, 1), rooms: make(map[string]*ring)}
}

// Append implements Log.
func (l *MemoryLog) Append(room string, expect uint64, rec Record) (Record, bool, error) {
	if rec.ID != expect+1 {
		return Record{}, false, ErrNotNext
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.room(room)
	if r.buf == nil {
		r.buf = make([]Record, l.keep)
	}
	if r.n > 0 && r.newest() != expect {
		return Record{}, false, ErrConflict
	}
	if rec.CID != "" {
		if id, ok := r.cids[rec.CID]; ok {
			return r.at(int(id - r.oldest())), false, nil
		}
	}
	r.add(rec)
	close(r.changed)
	r.changed = make(chan struct{})
	return rec, true, nil
}

// room returns a room's ring, made empty if the room has none. l.mu is
// held.
func (l *MemoryLog) room(name string) *ring {
	r := l.rooms[name]
	if r == nil {
		r = &ring{cids: make(map[string]uint64), changed: make(chan struct{})}
		l.rooms[name] = r
	}
	return r
}

// watchBatch bounds the records Watch copies under the log's lock at once.
const watchBatch = 256

// Watch implements Log.
func (l *MemoryLog) Watch(ctx context.Context, room string, after uint64, fn func(Record) error) error {
	for {
		recs, changed, err := l.since(room, after)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
			after = rec.ID
		}
		if len(recs) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// since returns the next records after after for Watch, and a channel
// closed at the room's next append or drop.
func (l *MemoryLog) since(room string, after uint64) ([]Record, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.room(room)
	if r.n == 0 {
		return nil, r.changed, nil
	}
	if after != 0 && (after+1 < r.oldest() || after > r.newest()) {
		return nil, nil, ErrTruncated
	}
	skip := 0
	if after != 0 {
		skip = int(after - r.oldest() + 1)
	}
	n := min(r.n-skip, watchBatch)
	out := make([]Record, n)
	for i := range out {
		out[i] = r.at(skip + i)
	}
	return out, r.changed, nil
}

// Read implements Log.
func (l *MemoryLog) Read(room string, after uint64, limit int) ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rooms[room]
	if r == nil || r.n == 0 {
		return nil, nil
	}
	skip := 0
	if first := r.oldest(); after >= first {
		skip = int(min(after-first+1, uint64(r.n)))
	}
	n := r.n - skip
	if limit > 0 {
		n = min(n, limit)
	}
	if n <= 0 {
		return nil, nil
	}
	out := make([]Record, n)
	for i := range out {
		out[i] = r.at(skip + i)
	}
	return out, nil
}

// Bounds implements Log.
func (l *MemoryLog) Bounds(room string) (oldest, newest uint64, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rooms[room]
	if r == nil || r.n == 0 {
		return 0, 0, false, nil
	}
	return r.oldest(), r.newest(), true, nil
}

// Drop implements Log.
func (l *MemoryLog) Drop(room string, through uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rooms[room]
	if r == nil {
		return nil
	}
	for r.n > 0 && r.oldest() <= through {
		if gone := r.buf[r.start]; gone.CID != "" {
			delete(r.cids, gone.CID)
		}
		r.start = (r.start + 1) % len(r.buf)
		r.n--
	}
	close(r.changed) // watchers look again, and find the room's next life
	if r.n == 0 {
		delete(l.rooms, room)
	} else {
		r.changed = make(chan struct{})
	}
	return nil
}

// ring is one room's newest records, oldest first, with the client ids of
// those it keeps.
type ring struct {
	buf     []Record // made at the first append
	start   int      // index of the oldest record
	n       int
	cids    map[string]uint64 // CID → id, for kept records only
	changed chan struct{}     // closed, and replaced, at every append; closed at Drop
}

func (r *ring) at(i int) Record { return r.buf[(r.start+i)%len(r.buf)] }
func (r *ring) oldest() uint64  { return r.buf[r.start].ID }
func (r *ring) newest() uint64  { return r.at(r.n - 1).ID }

func (r *ring) add(rec Record) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = rec
		r.n++
	} else {
		if gone := r.buf[r.start]; gone.CID != "" {
			delete(r.cids, gone.CID)
		}
		r.buf[r.start] = rec
		r.start = (r.start + 1) % len(r.buf)
	}
	if rec.CID != "" {
		r.cids[rec.CID] = rec.ID
	}
}
