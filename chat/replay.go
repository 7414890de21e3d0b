package chat

import (
	"fmt"
	"time"
)

// A Backlog is what a reader is sent before live events.
type Backlog struct {
	// Reset is true when the reader's resume point was not in this room's
	// retained history: older than it, or newer than the newest event (an id
	// from an earlier run of the server, or a made-up one).
	Reset bool
	// From is the id just before Events[0]: the point the reader is now at.
	From uint64
	// Events are the retained events after From, oldest first.
	Events []Event
	// Members is the room's member list now.
	Members []Member
	// Last is the newest event's id; Events ends with it when not empty.
	Last uint64
}

// Backlog opens the retained events a reader resuming after since must be
// sent; since 0 asks for all of them. The records are copied under the room's
// lock and opened after it is released.
func (h *Hub) Backlog(roomName string, since uint64) (Backlog, error) {
	var b Backlog
	var recs []record
	name, err := RoomName(roomName)
	if err != nil {
		return b, err
	}
	err = h.withRoom(name, false, func(r *room, _ time.Time) error {
		b.Last = r.last()
		oldest, any := r.hist.oldest()
		if !any {
			oldest = r.next
		}
		switch {
		case since == 0:
			b.From = oldest - 1
		case since > b.Last || since < oldest-1:
			b.Reset = true
			b.From = oldest - 1
		default:
			b.From = since
		}
		recs = r.hist.after(b.From)
		b.Members = r.memberList()
		return nil
	})
	if err != nil {
		return b, err
	}
	b.Events, err = h.open(name, recs)
	return b, err
}

// open unseals records of a room.
func (h *Hub) open(roomName string, recs []record) ([]Event, error) {
	events := make([]Event, 0, len(recs))
	for _, rec := range recs {
		plain, err := h.box.Open(roomName, rec.sealed, associatedData(roomName, rec.id, rec.member))
		if err != nil {
			return nil, fmt.Errorf("open event %d: %w", rec.id, err)
		}
		ev, err := parsePayload(rec.id, rec.member, plain)
		if err != nil {
			return nil, fmt.Errorf("open event %d: %w", rec.id, err)
		}
		events = append(events, ev)
	}
	return events, nil
}
