package chat

import (
	"errors"
	"fmt"
	"iter"
	"time"
)

// Errors of a Transcript's walk: the history it began with can no longer be
// read to its end.
var (
	// ErrRoomGone is a walk whose room was dropped (idle) after it began;
	// the room may have been made again since, with a history of its own.
	ErrRoomGone = errors.New("chat: the room was dropped while its history was being read")
	// ErrOvertaken is a walk whose next events the room no longer keeps:
	// more was appended meanwhile than the room keeps, and retention
	// dropped them before they were read.
	ErrOvertaken = errors.New("chat: the room no longer keeps the events that come next")
)

// DefaultTranscriptBatch is how many sealed records a Transcript's walk
// reads under the room's lock at once, unless told otherwise.
const DefaultTranscriptBatch = 100

// A Transcript is everything a room keeps, from its oldest kept event to
// its newest at the moment Transcript was called: a snapshot boundary, so
// events appended while the walk goes on are left out and the walk ends.
type Transcript struct {
	Room string
	// First and Last are the ids of the oldest kept event and the newest
	// event when the transcript was taken; First is Last+1 when the room
	// keeps none.
	First, Last uint64

	hub *Hub
	r   *room // the room's life the transcript belongs to
}

// Len is the number of events the transcript spans.
func (t Transcript) Len() uint64 { return t.Last + 1 - t.First }

// Transcript takes a room's bounds for a walk with Events. A room that
// does not exist is ErrNoRoom.
func (h *Hub) Transcript(roomName string) (Transcript, error) {
	name, err := RoomName(roomName)
	if err != nil {
		return Transcript{}, err
	}
	t := Transcript{Room: name, hub: h}
	err = h.withRoom(name, false, func(r *room, _ time.Time) error {
		t.r = r
		oldest, newest, ok, err := h.log.Bounds(name)
		if err != nil {
			return fmt.Errorf("read the room's log: %w", err)
		}
		t.Last = max(r.last(), newest) // other nodes may have appended
		t.First = t.Last + 1
		if ok {
			t.First = oldest
		}
		return nil
	})
	return t, err
}

// Events opens the transcript's events one at a time, oldest first. It
// reads at most batch (≥ 1; less is DefaultTranscriptBatch) sealed records
// under the room's lock at once, and opens and yields them after releasing
// it, so neither a slow consumer holds up the room nor is the history ever
// all in plaintext at once. It continues after the last id it yielded
// until Last.
//
// It stops at the first error, yielding it: ErrRoomGone if the room was
// dropped meanwhile, ErrOvertaken (wrapped) if retention dropped the next
// events before they were read, or a record that failed to open.
func (t Transcript) Events(batch int) iter.Seq2[Event, error] {
	if batch < 1 {
		batch = DefaultTranscriptBatch
	}
	return func(yield func(Event, error) bool) {
		after := t.First - 1
		for after < t.Last {
			recs, err := t.read(after, int(min(uint64(batch), t.Last-after)))
			if err != nil {
				yield(Event{}, err)
				return
			}
			for _, rec := range recs {
				ev, err := t.hub.open(t.Room, rec)
				if !yield(ev, err) || err != nil {
					return
				}
			}
			after = recs[len(recs)-1].ID
		}
	}
}

// read copies up to n sealed records after after, under the room's lock,
// checking that the room is still the life the transcript began in and
// that the records follow after without a gap.
func (t Transcript) read(after uint64, n int) ([]Record, error) {
	var recs []Record
	err := t.hub.withRoom(t.Room, false, func(r *room, _ time.Time) error {
		if r != t.r {
			return ErrRoomGone
		}
		var err error
		recs, err = t.hub.log.Read(t.Room, after, n)
		if err != nil {
			return fmt.Errorf("read the room's log: %w", err)
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrNoRoom):
		return nil, ErrRoomGone
	case err != nil:
		return nil, err
	case len(recs) == 0 || recs[0].ID != after+1:
		return nil, fmt.Errorf("after event %d: %w", after, ErrOvertaken)
	}
	return recs, nil
}
