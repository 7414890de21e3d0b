package chat

import (
	"errors"
	"fmt"
	"iter"
	"time"
)

// A Backlog is what a reader is sent before live events.
type Backlog struct {
	// Reset is true when the reader's resume point was not in this room's
	// retained history: older than it, or newer than the newest event (an id
	// from an earlier run of the server, or a made-up one).
	Reset bool
	// From is the id just before the first event: the point the reader is
	// now at.
	From uint64
	// Members is the room's member list now, and Seq its place in the
	// room's sequence of lists (see Delivery).
	Members []Member
	Seq     uint64
	// Last is the newest event's id; the events end with it when there are
	// any.
	Last uint64

	hub  *Hub
	room string
	recs []Record
}

// Len is the number of events in the backlog.
func (b Backlog) Len() int { return len(b.recs) }

// Events opens the backlog's events one at a time, oldest first, so that a
// long history is never all in plaintext at once. It stops at the first
// record that fails to open, yielding the error.
func (b Backlog) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for _, rec := range b.recs {
			ev, err := b.hub.open(b.room, rec)
			if err == nil {
				b.hub.counts.backlogEvents.Add(1)
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// LiveFrom returns the id after which a reader asking for live events only
// begins: the room's newest event now, or 0 when the room does not exist
// (a stream that waits for it sees its events from the first). On a shared
// log the newest is the log's: a node that has just begun serving the room
// goes on publishing what came before it, which such a reader must not be
// sent.
func (h *Hub) LiveFrom(roomName string) (uint64, error) {
	name, err := RoomName(roomName)
	if err != nil {
		return 0, err
	}
	var last uint64
	err = h.withRoom(name, false, func(r *room, _ time.Time) error {
		last = r.last()
		if !h.cfg.Shared {
			return nil
		}
		_, newest, _, err := h.log.Bounds(name)
		if err != nil {
			return fmt.Errorf("read the room's log: %w", err)
		}
		last = max(last, newest)
		return nil
	})
	if errors.Is(err, ErrNoRoom) {
		return 0, nil
	}
	return last, err
}

// Backlog returns the retained events a reader resuming after since must be
// sent; since 0 asks for all of them. The sealed records are copied under
// the room's lock and opened, by Events, after it is released.
func (h *Hub) Backlog(roomName string, since uint64) (Backlog, error) {
	name, err := RoomName(roomName)
	if err != nil {
		return Backlog{}, err
	}
	b := Backlog{hub: h, room: name}
	err = h.withRoom(name, false, func(r *room, _ time.Time) error {
		oldest, newest, any, err := h.log.Bounds(name)
		if err != nil {
			return fmt.Errorf("read the room's log: %w", err)
		}
		// On a shared log, other nodes may have appended what this node
		// has not followed yet.
		b.Last = max(r.last(), newest)
		if !any {
			oldest = b.Last + 1
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
		if b.recs, err = h.log.Read(name, b.From, 0); err != nil {
			return fmt.Errorf("read the room's log: %w", err)
		}
		// Another node may have appended between Bounds and Read: the
		// reader has what Read returned, and its live events start after.
		if n := len(b.recs); n > 0 {
			b.Last = max(b.Last, b.recs[n-1].ID)
		}
		b.Members, b.Seq = r.state.List(), r.state.Seq
		return nil
	})
	if err == nil && b.Reset {
		h.counts.backlogResets.Add(1)
	}
	return b, err
}

// open unseals one record of a room.
func (h *Hub) open(roomName string, rec Record) (Event, error) {
	plain, err := h.box.Open(roomName, rec.Sealed, associatedData(roomName, rec.ID, rec.Member))
	if err != nil {
		return Event{}, fmt.Errorf("open event %d: %w", rec.ID, err)
	}
	ev, err := parsePayload(rec.ID, rec.Member, plain)
	if err != nil {
		return Event{}, fmt.Errorf("open event %d: %w", rec.ID, err)
	}
	return ev, nil
}

// A Page is a run of a room's history, oldest first, for a reader scrolling
// back through it.
type Page struct {
	Events []Event
	// Start is true when Events begin at the oldest event the room keeps,
	// or when nothing kept is older than the page was asked from.
	Start bool
	// Last is the room's newest event id when the page was read.
	Last uint64
	// Members is the room's member list when the page was read, and Seq
	// its place in the room's sequence of lists.
	Members []Member
	Seq     uint64
}

// MaxPage is the most events History returns at once.
const MaxPage = 200

// History returns up to limit (1…MaxPage) of a room's kept events with ids
// less than before; before 0 asks for the newest. A room that does not
// exist is ErrNoRoom; a limit out of range is ErrInvalidLimit.
func (h *Hub) History(roomName string, before uint64, limit int) (Page, error) {
	return h.page(roomName, limit, func(p *Page, oldest uint64, any bool) (uint64, int) {
		if before == 0 || before > p.Last+1 {
			before = p.Last + 1
		}
		if !any || before <= oldest {
			p.Start = true
			return 0, 0
		}
		from := oldest
		if before-oldest > uint64(limit) {
			from = before - uint64(limit)
		}
		p.Start = from == oldest
		return from - 1, int(before - from)
	})
}

// After returns up to limit (1…MaxPage) of a room's kept events with ids
// greater than after, oldest first: a reader catching up from where it was.
// Page.Start is true when they begin at the oldest event kept, which for an
// after older than that means the reader missed what retention dropped.
func (h *Hub) After(roomName string, after uint64, limit int) (Page, error) {
	return h.page(roomName, limit, func(p *Page, oldest uint64, any bool) (uint64, int) {
		p.Start = !any || after < oldest
		return after, limit
	})
}

// page reads a Page of a room: under the room's lock, pick sees the room's
// newest id (p.Last) and oldest kept id and says which records to read (n of
// them after the id it returns; none for n 0); they are opened one at a
// time after the lock is released.
func (h *Hub) page(roomName string, limit int, pick func(p *Page, oldest uint64, any bool) (after uint64, n int)) (Page, error) {
	if limit < 1 || limit > MaxPage {
		return Page{}, ErrInvalidLimit
	}
	name, err := RoomName(roomName)
	if err != nil {
		return Page{}, err
	}
	var p Page
	var recs []Record
	err = h.withRoom(name, false, func(r *room, _ time.Time) error {
		p.Members, p.Seq = r.state.List(), r.state.Seq
		oldest, newest, any, err := h.log.Bounds(name)
		if err != nil {
			return fmt.Errorf("read the room's log: %w", err)
		}
		p.Last = max(r.last(), newest) // see Backlog
		after, n := pick(&p, oldest, any)
		if n == 0 {
			return nil
		}
		recs, err = h.log.Read(name, after, n)
		return err
	})
	if err != nil {
		return Page{}, err
	}
	p.Events = make([]Event, 0, len(recs))
	for _, rec := range recs {
		ev, err := h.open(name, rec)
		if err != nil {
			return Page{}, err
		}
		p.Events = append(p.Events, ev)
	}
	return p, nil
}
