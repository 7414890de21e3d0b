package natslog

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Append implements chat.Log. The head of the room is read, compared with
// expect, and the record is published on condition that the subject's
// last sequence is still the head's: a writer that lost a race gets
// chat.ErrConflict, from the server's "wrong last sequence" or from the
// head it read. If the stream is gone (NATS restarted with memory
// storage), it is made again once.
func (l *Log) Append(room string, expect uint64, rec chat.Record) (chat.Record, bool, error) {
	stored, appended, err := l.append(room, expect, rec)
	if errors.Is(err, chat.ErrConflict) {
		l.stats.appendConflicts.Add(1)
	}
	return stored, appended, err
}

func (l *Log) append(room string, expect uint64, rec chat.Record) (chat.Record, bool, error) {
	if rec.ID != expect+1 {
		return chat.Record{}, false, chat.ErrNotNext
	}
	if err := Reachable(l.nc); err != nil {
		return chat.Record{}, false, fmt.Errorf("natslog: append: %w", err)
	}
	subj, err := l.subject(room)
	if err != nil {
		return chat.Record{}, false, err
	}
	ctx, cancel := l.context()
	defer cancel()
	idx := l.cidIndex(subj)
	if stored, ok, err := l.appendKnown(ctx, subj, idx, expect, rec); ok || err != nil {
		return stored, ok, err
	}
	var head stored
	var held bool
	err = l.withStream(ctx, func() (err error) {
		head, held, err = l.last(ctx, subj)
		return err
	})
	if err != nil {
		return chat.Record{}, false, err
	}
	if held && head.rec.ID != expect {
		return chat.Record{}, false, &chat.ConflictError{Newest: head.rec.ID}
	}
	if rec.CID != "" {
		if found, ok, err := idx.lookup(ctx, l, subj, head, held, rec.CID); err != nil {
			return chat.Record{}, false, err
		} else if ok {
			return found, false, nil
		}
	}
	var headSeq uint64
	if held {
		headSeq = head.seq
	}
	ack, err := l.js.Publish(ctx, subj, encode(rec), jetstream.WithExpectLastSequencePerSubject(headSeq))
	if err != nil {
		if isWrongLastSequence(err) {
			return chat.Record{}, false, chat.ErrConflict
		}
		return chat.Record{}, false, fmt.Errorf("natslog: append: %w", Unavailable(err))
	}
	idx.appended(headSeq, stored{seq: ack.Sequence, rec: rec}, l.cfg.History)
	return rec, true, nil
}

// appendKnown is Append's fast path, for a room whose newest record this
// Log knows (it appended or read it last) and whose index has the record's
// client id nowhere: the record is published on condition that the
// subject's last sequence is the known one, in one round trip. ok is false,
// with no error, when the path does not apply or the condition failed: the
// full path then reads the head and decides.
func (l *Log) appendKnown(ctx context.Context, subj string, idx *cidIndex, expect uint64, rec chat.Record) (chat.Record, bool, error) {
	idx.mu.Lock()
	headSeq, known := idx.seq, idx.valid && idx.seq != 0 && idx.id == expect
	if rec.CID != "" {
		_, found := idx.bySeq[rec.CID]
		known = known && !found
	}
	idx.mu.Unlock()
	if !known {
		return chat.Record{}, false, nil
	}
	ack, err := l.js.Publish(ctx, subj, encode(rec),
		jetstream.WithExpectLastSequencePerSubject(headSeq), jetstream.WithRetryAttempts(0))
	switch {
	case isWrongLastSequence(err):
		return chat.Record{}, false, nil
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		idx.invalidate() // the stream is gone: the full path makes it again
		return chat.Record{}, false, nil
	case err != nil:
		return chat.Record{}, false, fmt.Errorf("natslog: append: %w", Unavailable(err))
	}
	idx.appended(headSeq, stored{seq: ack.Sequence, rec: rec}, l.cfg.History)
	return rec, true, nil
}

// isWrongLastSequence reports the server's refusal of a compare-and-set.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
