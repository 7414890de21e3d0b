package natslog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// consumerIdle is how long the server keeps a watcher's consumer whose
// client went away without deleting it (a crash).
const consumerIdle = time.Minute

// Watch implements chat.Log with an ordered consumer filtered on the
// room's subject, starting at the first record with an id greater than
// after. Every delivered record must follow the one before it (or after),
// else Watch returns chat.ErrTruncated: a drop and a re-creation, or a
// NATS restart, never shows as a silent gap. Neither a purge nor a restart
// delivers anything, so an idle Watch also looks at the room's newest
// record every Config.WatchCheck, and resets if what it delivered is gone.
func (l *Log) Watch(ctx context.Context, room string, after uint64, fn func(chat.Record) error) error {
	subj, err := l.subject(room)
	if err != nil {
		return err
	}
	w := watcher{l: l, subj: subj, next: after + 1}
	if after == 0 {
		w.next = 0 // the first record kept, whatever its id
	}
	cons, err := w.start(ctx, after)
	if err != nil {
		return err
	}
	msgs := make(chan jetstream.Msg)
	done := make(chan struct{})
	closed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-done:
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		// The ordered consumer makes itself again after anything else.
		if errors.Is(err, jetstream.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionClosed) {
			select {
			case closed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("natslog: watch: %w", err)
	}
	defer w.stop(cons, cc, done)

	tick := time.NewTicker(l.cfg.WatchCheck)
	defer tick.Stop()
	idle := true
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-closed:
			return fmt.Errorf("natslog: watch: %w", err)
		case m := <-msgs:
			idle = false
			if err := w.deliver(m, fn); err != nil {
				return err
			}
		case <-tick.C:
			if !idle {
				idle = true // records came: the gap check saw to them
				continue
			}
			if err := w.check(ctx); err != nil {
				return err
			}
		}
	}
}

// A watcher is one Watch's place in its room.
type watcher struct {
	l    *Log
	subj string
	next uint64 // the id the next record must have; 0 for any
	// seen is the newest record delivered, or the room's newest when the
	// watch began at it; seq 0 while there is none.
	seen struct{ seq, id uint64 }
}

// start finds where to begin and makes the consumer: at the record after
// after, or at the room's first record when the room is empty (the first
// one appended is then the first delivered). after newer than the room's
// newest record is chat.ErrTruncated.
func (w *watcher) start(ctx context.Context, after uint64) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, w.l.cfg.Timeout)
	defer cancel()
	var from uint64
	var last stored
	var ok bool
	err := w.l.withStream(ctx, func() (err error) {
		from, last, ok, err = w.l.locate(ctx, w.subj, after)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natslog: watch: %w", err)
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{w.subj},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: consumerIdle,
	}
	if ok {
		if after > last.rec.ID {
			return nil, chat.ErrTruncated
		}
		if after == last.rec.ID {
			w.seen.seq, w.seen.id = last.seq, last.rec.ID
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	cons, err := w.l.js.OrderedConsumer(ctx, w.l.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("natslog: watch: %w", err)
	}
	return cons, nil
}

// deliver checks that m holds the next record and hands it to fn.
func (w *watcher) deliver(m jetstream.Msg, fn func(chat.Record) error) error {
	meta, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("natslog: watch: %w", err)
	}
	rec, err := decode(m.Data())
	if err != nil {
		return fmt.Errorf("natslog: message %d: %w", meta.Sequence.Stream, err)
	}
	if w.next != 0 && rec.ID != w.next {
		return chat.ErrTruncated
	}
	if err := fn(rec); err != nil {
		return err
	}
	w.next = rec.ID + 1
	w.seen.seq, w.seen.id = meta.Sequence.Stream, rec.ID
	return nil
}

// check looks at the room's newest record: if the room no longer holds
// what was delivered (purged, or the stream made again after a restart),
// the watcher must reset. A NATS that does not answer is waited for, as
// the consumer does.
func (w *watcher) check(ctx context.Context) error {
	if w.seen.seq == 0 {
		return nil // nothing delivered yet: whatever comes is gap-checked
	}
	ctx, cancel := context.WithTimeout(ctx, w.l.cfg.Timeout)
	defer cancel()
	var head stored
	var held bool
	err := w.l.withStream(ctx, func() (err error) {
		head, held, err = w.l.last(ctx, w.subj)
		return err
	})
	switch {
	case err != nil:
		return nil
	case !held, head.seq < w.seen.seq, head.seq == w.seen.seq && head.rec.ID != w.seen.id:
		return chat.ErrTruncated
	}
	return nil
}

// stop ends the consumer, waits for its goroutines, and deletes it from
// the server (best effort: the server forgets it after consumerIdle
// anyway).
func (w *watcher) stop(cons jetstream.Consumer, cc jetstream.ConsumeContext, done chan struct{}) {
	close(done)
	cc.Stop()
	<-cc.Closed()
	if info := cons.CachedInfo(); info != nil && !w.l.nc.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), w.l.cfg.Timeout)
		defer cancel()
		_ = w.l.js.DeleteConsumer(ctx, w.l.cfg.Stream, info.Name)
	}
}
