package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reads go through JetStream's direct get API (the stream has AllowDirect
// set): a request answered by any server holding the stream, by subject
// and sequence, without a consumer. A batch of records comes back as a run
// of messages ending in an end-of-batch status, one round trip for a whole
// backlog (nats-server 2.11 and later).

// A stored is a record with its place in the stream.
type stored struct {
	seq uint64 // the stream's sequence of the message
	rec chat.Record
}

// errStreamGone is a direct get nobody answered: the stream does not exist
// (deleted, or a server with memory storage restarted), or JetStream is not
// up yet on the server.
var errStreamGone = errors.New("natslog: the stream does not answer")

// numPendingHeader is the end of a batch's count of the subject's
// messages after it.
const numPendingHeader = "Nats-Num-Pending"

// directRequest is the direct get request's JSON (nats-server's
// JSApiMsgGetRequest).
type directRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	Batch   int    `json:"batch,omitempty"`
	// NoHeaders leaves each message's headers out of a batch: the server
	// then skips rewriting them per message (a third of its work for a
	// batch of small records), and the answers carry no sequences.
	NoHeaders bool `json:"no_hdr,omitempty"`
	MaxBytes  int  `json:"max_bytes,omitempty"`
}

// last returns the newest record on subj; ok is false when it has none.
func (l *Log) last(ctx context.Context, subj string) (s stored, ok bool, err error) {
	return l.getOne(ctx, directRequest{LastFor: subj})
}

// next returns the first record on subj whose sequence is seq or later; ok
// is false when there is none.
func (l *Log) next(ctx context.Context, subj string, seq uint64) (s stored, ok bool, err error) {
	return l.getOne(ctx, directRequest{Seq: max(seq, 1), NextFor: subj})
}

func (l *Log) getOne(ctx context.Context, req directRequest) (stored, bool, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return stored{}, false, err
	}
	m, err := l.nc.RequestWithContext(ctx, l.directSubject, body)
	if errors.Is(err, nats.ErrNoResponders) {
		return stored{}, false, errStreamGone
	}
	if err != nil {
		return stored{}, false, fmt.Errorf("natslog: direct get: %w", Unavailable(err))
	}
	return parseDirect(m, true)
}

// parseDirect reads one direct get answer: a record, or ok false for "no
// message" and the end of a batch. Without withSeq the answer has no
// headers, and the record's sequence is left 0.
func parseDirect(m *nats.Msg, withSeq bool) (stored, bool, error) {
	if len(m.Data) == 0 {
		switch status := m.Header.Get("Status"); status {
		case "":
		case "404", "204": // no message; the end of a batch
			return stored{}, false, nil
		case "503":
			return stored{}, false, errStreamGone
		default:
			return stored{}, false, fmt.Errorf("natslog: direct get: status %s %s", status, m.Header.Get("Description"))
		}
	}
	var seq uint64
	if withSeq {
		var err error
		if seq, err = strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64); err != nil {
			return stored{}, false, fmt.Errorf("natslog: direct get: sequence header: %w", err)
		}
	}
	rec, err := decode(m.Data)
	if err != nil {
		return stored{}, false, fmt.Errorf("natslog: message %d: %w", seq, err)
	}
	return stored{seq: seq, rec: rec}, true, nil
}

// batch calls fn with the records on subj from sequence from on, oldest
// first, with their sequences, up to n of them and none after sequence
// upTo; fn returns false to stop early. It asks for them in as few batches
// as the server's byte limit per answer allows.
func (l *Log) batch(ctx context.Context, subj string, from, upTo uint64, n int, fn func(stored) bool) error {
	for n > 0 && from <= upTo {
		got, more, err := l.batchOnce(ctx, directRequest{Seq: from, NextFor: subj, Batch: n, MaxBytes: l.batchBytes}, upTo, fn)
		if err != nil || !more {
			return err
		}
		n -= got.count
		from = got.seq + 1
	}
	return nil
}

// records is batch without sequences, in one answer: cheaper for the
// server, for readers that need only the records. cut is true when the
// server stopped early (its byte limit per answer) and fn wanted more: the
// caller goes on from the last record's id.
func (l *Log) records(ctx context.Context, subj string, from uint64, n int, fn func(chat.Record) bool) (cut bool, err error) {
	if n <= 0 {
		return false, nil
	}
	req := directRequest{Seq: from, NextFor: subj, Batch: n, NoHeaders: true, MaxBytes: l.batchBytes}
	_, cut, err = l.batchOnce(ctx, req, math.MaxUint64, func(s stored) bool { return fn(s.rec) })
	return cut, err
}

// batchProgress is where one batch answer stopped.
type batchProgress struct {
	seq   uint64 // the last sequence delivered; 0 without headers
	count int    // records delivered
}

// batchOnce sends one batch request and reads its answers until the end of
// batch, calling fn with each record up to sequence upTo; more is true when
// the server stopped early (its byte limit) and fn wants more.
func (l *Log) batchOnce(ctx context.Context, req directRequest, upTo uint64, fn func(stored) bool) (batchProgress, bool, error) {
	var p batchProgress
	body, err := json.Marshal(req)
	if err != nil {
		return p, false, err
	}
	inbox := nats.NewInbox() // not a response inbox, which the connection's request mux would also receive
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return p, false, fmt.Errorf("natslog: direct get: %w", Unavailable(err))
	}
	defer sub.Unsubscribe()
	if err := l.nc.PublishRequest(l.directSubject, inbox, body); err != nil {
		return p, false, fmt.Errorf("natslog: direct get: %w", Unavailable(err))
	}
	wanted := true
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return p, false, fmt.Errorf("natslog: direct get: %w", Unavailable(err))
		}
		s, ok, err := parseDirect(m, !req.NoHeaders)
		if err != nil {
			return p, false, err
		}
		if !ok { // end of batch, or nothing from here on
			more := wanted && p.count > 0 && p.count < req.Batch && m.Header.Get(numPendingHeader) != "0"
			return p, more, nil
		}
		if !wanted || s.seq > upTo {
			wanted = false
			continue // drain to the end of the batch
		}
		p.seq, p.count = s.seq, p.count+1
		wanted = fn(s)
	}
}
