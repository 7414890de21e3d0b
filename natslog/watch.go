package natslog

import (
	"context"
	"fmt"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

// consumerIdle is how long the server keeps the follower's consumer whose
// client went away without deleting it (a crash).
const consumerIdle = time.Minute

// Watch implements chat.Log. It joins the Log's follower (follow.go),
// reads the room's records after after by direct get, then passes on what
// the follower hands it. Every record it passes on follows the one before
// it (or after): a record the follower hands over that does not is a gap,
// filled by direct get, and only what the room no longer keeps is
// chat.ErrTruncated (a drop and a re-creation, a NATS restart). Records
// read twice, by direct get and from the follower, are told apart by their
// stream sequence and passed on once.
func (l *Log) Watch(ctx context.Context, room string, after uint64, fn func(chat.Record) error) error {
	subj, err := l.subject(room)
	if err != nil {
		return err
	}
	w := &watch{subj: subj, kick: make(chan struct{}, 1)}
	// Joined before the first read: what is appended after that read is
	// then handed over by the follower.
	if err := l.join(ctx, w); err != nil {
		return err
	}
	defer l.leave(w)
	p := place{l: l, subj: subj, fn: fn, next: after + 1}
	if after == 0 {
		p.next = 0 // the first record kept, whatever its id
	}
	if err := p.catchUp(ctx); err != nil {
		return err
	}
	if l.placed != nil {
		l.placed(room)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.kick:
		}
		m := w.take()
		if m.err != nil {
			return m.err
		}
		if m.lost && p.seen.seq != 0 {
			return chat.ErrTruncated
		}
		if m.overflow || m.recheck {
			l.stats.catchUps.Add(1)
			if err := p.catchUp(ctx); err != nil {
				return err
			}
		}
		for _, it := range m.queue {
			if err := p.take(ctx, it); err != nil {
				return err
			}
		}
	}
}

// A place is one Watch's place in its room.
type place struct {
	l    *Log
	subj string
	fn   func(chat.Record) error
	next uint64 // the id the next record must have; 0 for any
	// seen is the newest record passed on, or the room's newest when the
	// watch began at it; seq 0 while there is none.
	seen struct{ seq, id uint64 }
}

// take passes on a record the follower handed over, unless it was passed
// on already; a gap before it is filled first.
func (p *place) take(ctx context.Context, it item) error {
	if it.err != nil {
		return it.err
	}
	if it.seq <= p.seen.seq {
		return nil // read by direct get already
	}
	if p.next != 0 && it.rec.ID > p.next {
		p.l.stats.catchUps.Add(1)
		if err := p.catchUp(ctx); err != nil {
			return err
		}
		if it.seq <= p.seen.seq {
			return nil
		}
	}
	if p.next != 0 && it.rec.ID != p.next {
		return chat.ErrTruncated // a newer record with an older id: the room began again
	}
	return p.pass(it.stored)
}

func (p *place) pass(s stored) error {
	if err := p.fn(s.rec); err != nil {
		return err
	}
	p.next = s.rec.ID + 1
	p.seen.seq, p.seen.id = s.seq, s.rec.ID
	return nil
}

// catchUp reads the room's records after the place by direct get, up to
// its newest, and passes them on: a watch's start, a gap's filling, and
// its look at the room when the follower says it may have lost records.
// What the place passed on no longer kept, or after newer than the room's
// newest record, is chat.ErrTruncated.
func (p *place) catchUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.l.cfg.Timeout)
	defer cancel()
	var head stored
	var held bool
	err := p.l.withStream(ctx, func() (err error) {
		head, held, err = p.l.last(ctx, p.subj)
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("natslog: watch: %w", err)
	case !held && p.seen.seq != 0,
		held && head.seq < p.seen.seq,
		held && head.seq == p.seen.seq && head.rec.ID != p.seen.id:
		return chat.ErrTruncated
	case !held, head.seq == p.seen.seq:
		return nil // nothing newer
	}
	var after uint64
	if p.next != 0 {
		after = p.next - 1
		switch {
		case head.rec.ID < after:
			return chat.ErrTruncated // an id of the room's earlier life
		case head.rec.ID == after && p.seen.seq == 0:
			p.seen.seq, p.seen.id = head.seq, head.rec.ID // watching from the newest
			return nil
		case head.rec.ID == after:
			return chat.ErrTruncated // the same id, newer: the room began again
		}
	}
	var from uint64
	var last stored
	var ok bool
	if err := p.l.withStream(ctx, func() (err error) {
		from, last, ok, err = p.l.locate(ctx, p.subj, after)
		return err
	}); err != nil {
		return fmt.Errorf("natslog: watch: %w", err)
	}
	if !ok {
		return p.catchUpGone()
	}
	// Read first, pass on after: fn may be slow, and the batch's answers
	// would wait in the connection meanwhile.
	var recs []stored
	if err := p.l.batch(ctx, p.subj, from, last.seq, p.l.cfg.History, func(s stored) bool {
		recs = append(recs, s)
		return true
	}); err != nil {
		return fmt.Errorf("natslog: watch: %w", err)
	}
	for _, s := range recs {
		if s.seq <= p.seen.seq {
			continue
		}
		if p.next != 0 && s.rec.ID != p.next {
			return chat.ErrTruncated
		}
		if err := p.pass(s); err != nil {
			return err
		}
	}
	return nil
}

// catchUpGone is catchUp's answer when the room emptied between its two
// looks: a reset if anything was passed on.
func (p *place) catchUpGone() error {
	if p.seen.seq != 0 {
		return chat.ErrTruncated
	}
	return nil
}
