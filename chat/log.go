package chat

import (
	"context"
	"errors"
)

// A Record is one sealed event as a Log keeps it. Only what finds and
// verifies it is in the clear: its place and its sender are the associated
// data it was sealed with, so a record moved to another place does not open.
type Record struct {
	ID     uint64 // the event's place in its room; the record before it has ID-1
	Member uint64 // the member the event is by or about
	CID    string // the client's own id for a message, or ""; see Log.Append
	Sealed []byte // never changed once appended
}

// A Log keeps the sealed events of rooms: per room, a run of records with
// consecutive ids, the oldest dropped past the log's retention. It decides
// nothing about members or names; the Hub does, and appends through it. The
// in-memory MemoryLog is the default; a network log (shared by several
// servers) must keep the same contract, which chattest.TestLog checks.
//
// Append takes the id the caller believes is the room's newest, the shape a
// log with compare-and-set needs: a caller whose belief was stale learns the
// newest id from Bounds, seals its event again for the next place, and
// retries.
type Log interface {
	// Append stores rec as the room's event after expect; rec.ID must be
	// expect+1. In a room with no records any expect is taken (the caller
	// chooses a room's first id). If the room's newest id is not expect,
	// nothing is stored and the error is ErrConflict. If rec.CID is set and
	// a record the room still keeps has the same CID, nothing is stored and
	// that record is returned with appended false.
	Append(room string, expect uint64, rec Record) (stored Record, appended bool, err error)
	// Read returns up to limit records (all when limit <= 0) with ids
	// greater than after, oldest first. What retention dropped is not
	// returned: compare with Bounds to tell a reader it was reset.
	Read(room string, after uint64, limit int) ([]Record, error)
	// Bounds returns the ids of the oldest and newest records the room
	// keeps; ok is false when it keeps none.
	Bounds(room string) (oldest, newest uint64, ok bool, err error)
	// Drop forgets the room's records with ids up to through, the newest
	// of the life that ends. Records with greater ids stay: another server
	// may have begun the room's next life (above the ended one's ids)
	// between the end and the Drop.
	Drop(room string, through uint64) error
	// Watch calls fn with each of the room's records with an id greater
	// than after, oldest first and without gaps: those kept now, then each
	// as it is appended, by this process or any other sharing the log. It
	// returns when ctx ends (ctx.Err()) or fn fails (fn's error). after 0
	// starts at the oldest record kept. If records after after are no
	// longer kept, or after is newer than the room's newest record (an id
	// from the room's earlier life), it returns ErrTruncated, before or
	// between calls of fn: the watcher resets, as a stream reader does.
	//
	// A Hub whose log is its own publishes what it appends directly; a log
	// shared by several servers is followed with Watch, so that each server
	// sees the others' events.
	Watch(ctx context.Context, room string, after uint64, fn func(Record) error) error
}

// A Forgetter is a Log that keeps something of each room in the process
// (natslog: an index of the room's client ids) that it can let go of once
// this node no longer serves the room; the Hub calls Forget then. The
// room's records stay as they are.
type Forgetter interface {
	Forget(room string)
}

// A ConflictError is ErrConflict (errors.Is finds it) that also says the
// room's newest id as the log read it when it refused the append, so the
// caller can seal for the next place without asking Bounds again: one
// round trip less per retry on a network log.
type ConflictError struct{ Newest uint64 }

func (e *ConflictError) Error() string        { return ErrConflict.Error() }
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Errors of a Log.
var (
	ErrConflict  = errors.New("chat: the room's log has moved on since its newest id was read")
	ErrNotNext   = errors.New("chat: a record's id must follow the id it is appended after")
	ErrTruncated = errors.New("chat: the records after this id are no longer kept")
	// ErrLogBusy is a Hub's error when other servers kept appending to a
	// room before each of its retries: the event was not stored.
	ErrLogBusy = errors.New("chat: the room's log kept moving on; the event was not stored")
)
