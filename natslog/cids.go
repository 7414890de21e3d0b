package natslog

import (
	"context"
	"sync"

	"github.com/cloakroom/cloakroom/chat"
)

// Client ids dedupe within what the room keeps, as in memory, not within
// NATS's own Nats-Msg-Id window (minutes, stream-wide, and blind to
// retention). A Log keeps, per room it appends to, the client ids of the
// room's kept records with their sequences, and brings the index up to the
// head Append has just read before it looks: nothing to read when this Log
// wrote the newest records, one batch of the others' records otherwise,
// and the whole room (up to History records) the first time or after a
// drop, a restart or a gap. The compare-and-set then makes the look exact:
// a record with the same client id appended after the head was read makes
// the append a conflict, and the retry looks again.

// maxCIDRooms bounds the rooms whose client ids one Log keeps; past it an
// index is forgotten and built again at its room's next append.
const maxCIDRooms = 4096

// A cidIndex is the client ids of one room's kept records, as far as this
// Log has read the room.
type cidIndex struct {
	mu      sync.Mutex
	valid   bool              // false until built, and after a gap
	seq, id uint64            // the newest record read; seq 0 is an empty room
	bySeq   map[string]uint64 // client id → sequence, for kept records
	order   []cidEntry        // oldest first, for retention
}

type cidEntry struct {
	id, seq uint64
	cid     string
}

// Forget implements chat.Forgetter: the room's client-id index goes, to be
// built again at its next append here. Without it a node keeps the index
// of every room it ever appended to, up to maxCIDRooms of them.
func (l *Log) Forget(room string) {
	subj, err := l.subject(room)
	if err != nil {
		return
	}
	l.mu.Lock()
	delete(l.cids, subj)
	l.mu.Unlock()
}

// cidIndex returns the room's index, made if it has none.
func (l *Log) cidIndex(subj string) *cidIndex {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.cids[subj]
	if idx == nil {
		if len(l.cids) >= maxCIDRooms {
			for k := range l.cids {
				delete(l.cids, k)
				break
			}
		}
		idx = &cidIndex{}
		l.cids[subj] = idx
	}
	return idx
}

// lookup returns the kept record with client id cid, if any, once the
// index has read the room up to head (held is false for an empty room). A
// room whose head moved while it was read is chat.ErrConflict: the append
// would fail its compare-and-set anyway.
func (x *cidIndex) lookup(ctx context.Context, l *Log, subj string, head stored, held bool, cid string) (chat.Record, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.sync(ctx, l, subj, head, held); err != nil {
		return chat.Record{}, false, err
	}
	seq, ok := x.bySeq[cid]
	if !ok {
		return chat.Record{}, false, nil
	}
	s, ok, err := l.next(ctx, subj, seq)
	if err != nil {
		return chat.Record{}, false, err
	}
	if !ok || s.seq != seq || s.rec.CID != cid {
		x.valid = false
		return chat.Record{}, false, chat.ErrConflict
	}
	return s.rec, true, nil
}

// sync brings the index up to head. x.mu is held.
func (x *cidIndex) sync(ctx context.Context, l *Log, subj string, head stored, held bool) error {
	if !held {
		x.reset()
		x.valid = true
		return nil
	}
	if x.valid && x.seq == head.seq && x.id == head.rec.ID {
		return nil
	}
	if x.valid && x.seq != 0 && x.seq < head.seq && x.id < head.rec.ID {
		ok := true
		err := l.batch(ctx, subj, x.seq+1, head.seq, int(head.rec.ID-x.id), func(s stored) bool {
			if ok = s.rec.ID == x.id+1; ok {
				x.add(s, l.cfg.History)
			}
			return ok
		})
		if err != nil {
			x.valid = false
			return err
		}
		if ok && x.seq == head.seq {
			return nil
		}
	}
	// Build it from the room's first kept record.
	x.reset()
	err := l.batch(ctx, subj, 1, head.seq, l.cfg.History, func(s stored) bool {
		if x.seq != 0 && s.rec.ID != x.id+1 {
			x.reset() // an earlier life of the room, dropped meanwhile
		}
		x.add(s, l.cfg.History)
		return true
	})
	if err != nil {
		return err
	}
	if x.seq != head.seq || x.id != head.rec.ID {
		x.reset()
		return chat.ErrConflict
	}
	x.valid = true
	return nil
}

// appended records the Log's own append after the head at sequence
// headSeq, if the index was up to that head.
func (x *cidIndex) appended(headSeq uint64, s stored, history int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.valid && x.seq == headSeq {
		x.add(s, history)
	}
}

// invalidate makes the next lookup build the index again.
func (x *cidIndex) invalidate() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.valid = false
}

func (x *cidIndex) reset() {
	x.valid, x.seq, x.id = false, 0, 0
	x.bySeq, x.order = make(map[string]uint64), x.order[:0]
}

// add indexes s, the room's newest record, and forgets what retention
// dropped before it.
func (x *cidIndex) add(s stored, history int) {
	x.seq, x.id = s.seq, s.rec.ID
	if s.rec.CID != "" {
		x.bySeq[s.rec.CID] = s.seq
		x.order = append(x.order, cidEntry{id: s.rec.ID, seq: s.seq, cid: s.rec.CID})
	}
	drop := 0
	for drop < len(x.order) && x.order[drop].id+uint64(history) <= s.rec.ID {
		if e := x.order[drop]; x.bySeq[e.cid] == e.seq {
			delete(x.bySeq, e.cid)
		}
		drop++
	}
	x.order = x.order[drop:]
}
