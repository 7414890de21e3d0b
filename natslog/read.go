package natslog

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloakroom/cloakroom/chat"
)

// Bounds implements chat.Log: the ids of the first and last messages on
// the room's subject.
func (l *Log) Bounds(room string) (oldest, newest uint64, ok bool, err error) {
	subj, err := l.subject(room)
	if err != nil {
		return 0, 0, false, err
	}
	if err := Reachable(l.nc); err != nil {
		return 0, 0, false, fmt.Errorf("natslog: bounds: %w", err)
	}
	ctx, cancel := l.context()
	defer cancel()
	var first, last stored
	err = l.withStream(ctx, func() (err error) {
		first, last, ok, err = l.ends(ctx, subj)
		return err
	})
	if err != nil || !ok {
		return 0, 0, false, err
	}
	return first.rec.ID, last.rec.ID, true, nil
}

// ends returns the first and last records on subj; ok is false when it
// has none. A drop between the two reads is read again, so first is never
// newer than last.
func (l *Log) ends(ctx context.Context, subj string) (first, last stored, ok bool, err error) {
	for range endsTries {
		last, ok, err = l.last(ctx, subj)
		if err != nil || !ok {
			return stored{}, stored{}, false, err
		}
		first, ok, err = l.next(ctx, subj, 1)
		if err != nil {
			return stored{}, stored{}, false, err
		}
		if ok && first.seq <= last.seq {
			return first, last, true, nil
		}
	}
	return stored{}, stored{}, false, errors.New("natslog: the room was dropped at every look at its ends")
}

// endsTries bounds how often ends looks again at a room being dropped.
const endsTries = 8

// Read implements chat.Log: the place of the record after after is
// looked up (see locate), then the records from there are read in one
// direct get batch (more if the server's byte limit cuts it).
func (l *Log) Read(room string, after uint64, limit int) ([]chat.Record, error) {
	subj, err := l.subject(room)
	if err != nil {
		return nil, err
	}
	if err := Reachable(l.nc); err != nil {
		return nil, fmt.Errorf("natslog: read: %w", err)
	}
	ctx, cancel := l.context()
	defer cancel()
	var out []chat.Record
	for {
		var from uint64
		var last stored
		var ok bool
		err = l.withStream(ctx, func() (err error) {
			from, last, ok, err = l.locate(ctx, subj, after)
			return err
		})
		if err != nil {
			return nil, err
		}
		if !ok || from > last.seq {
			return out, nil
		}
		n := int(last.rec.ID - after)
		if limit > 0 {
			n = min(n, limit-len(out))
		}
		gap := false
		cut, err := l.records(ctx, subj, from, n, func(r chat.Record) bool {
			if r.ID > last.rec.ID || r.ID <= after {
				return false // appended since the head was read, or a later life's
			}
			if len(out) > 0 && r.ID != out[len(out)-1].ID+1 {
				gap = true // the room was dropped and made again meanwhile
				return false
			}
			out = append(out, r)
			return true
		})
		if err != nil {
			return nil, err
		}
		if !cut || gap || len(out) == 0 {
			return out, nil
		}
		after = out[len(out)-1].ID
	}
}

// locate returns the stream sequence from which the room's records with
// ids greater than after are read (the first kept record's when after is
// older than it, the one past the newest's when none is newer), and the
// room's newest record; ok is false when the room keeps none. Records are
// in id order on their subject, so the place is found by bisecting the
// subject's sequences: a few direct gets, however long the room.
func (l *Log) locate(ctx context.Context, subj string, after uint64) (from uint64, last stored, ok bool, err error) {
	last, ok, err = l.last(ctx, subj)
	if err != nil || !ok {
		return 0, stored{}, false, err
	}
	switch {
	case after >= last.rec.ID:
		return last.seq + 1, last, true, nil
	case after+1 == last.rec.ID:
		return last.seq, last, true, nil
	}
	first, ok, err := l.next(ctx, subj, 1)
	if err != nil || !ok {
		return 0, stored{}, false, err
	}
	if after < first.rec.ID {
		return first.seq, last, true, nil
	}
	// The record after after lies in (first.seq, last.seq]: find the
	// smallest sequence whose next record on the subject is newer than
	// after.
	lo, hi := first.seq+1, last.seq
	for lo < hi {
		mid := lo + (hi-lo)/2
		s, ok, err := l.next(ctx, subj, mid)
		if err != nil {
			return 0, stored{}, false, err
		}
		switch {
		case !ok: // dropped meanwhile: what is left is newer
			return last.seq + 1, last, true, nil
		case s.rec.ID == after+1:
			return s.seq, last, true, nil
		case s.rec.ID > after:
			hi = mid
		default:
			lo = s.seq + 1
		}
	}
	return lo, last, true, nil
}
