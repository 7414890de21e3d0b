package chat

import (
	"sync"
	"time"
)

// Presence is what a room's member list says about a member.
type Presence uint8

// The states of a member, from the tabs that show its room.
const (
	Away   Presence = iota // no open stream keeps it present
	Idle                   // it has open streams, all from hidden tabs
	Online                 // some tab of it is visible
)

// String is the word the member list shows: "away", "idle" or "online".
func (p Presence) String() string {
	switch p {
	case Online:
		return "online"
	case Idle:
		return "idle"
	}
	return "away"
}

// A Bind asks a stream to keep one of its browser's members present: online,
// or idle when every tab showing that member is hidden.
type Bind struct {
	Member uint64
	Idle   bool
}

// Attach records an open stream on a room. It neither makes the room nor
// keeps it: a stream may wait for a room that does not exist yet (it gets
// the room's events from its creation), and does not count against
// MaxRooms. Each bind that names one of the owner's members in the room
// keeps that member present while the stream is open; other binds are
// ignored, so the stream is then only a reader. The returned function ends
// the attachment; call it once. Presence changes are not history events:
// they reach readers as member-list updates, at most one per
// PresenceDebounce (see Sweep).
func (h *Hub) Attach(owner, roomName string, binds ...Bind) (detach func(), err error) {
	name, err := RoomName(roomName)
	if err != nil {
		return nil, err
	}
	if h.readers.Add(1) > int64(h.cfg.MaxReaders) {
		h.readers.Add(-1)
		h.counts.refusedStreams.Add(1)
		return nil, ErrTooManyReaders
	}
	h.mu.Lock()
	h.watchers[name]++
	h.mu.Unlock()

	var r *room
	var bound []Bind
	// On a shared store the room may live on other nodes only: looking it
	// up makes this node follow it for its readers.
	if len(binds) > 0 || h.cfg.Shared {
		err = h.withRoom(name, false, func(rm *room, now time.Time) error {
			r = rm
			for _, b := range binds {
				m, ok, err := r.find(h, owner, b.Member, now)
				if err != nil {
					return err
				}
				if b.Member == 0 || !ok || isBound(bound, m.ID) {
					continue
				}
				bound = append(bound, Bind{Member: m.ID, Idle: b.Idle})
			}
			return r.keep(h, bound, 1, now)
		})
		if err != nil && err != ErrNoRoom { // no room, no members to keep
			h.unwatch(name)
			return nil, err
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.unwatch(name)
			if r != nil {
				h.detach(r, bound)
			}
		})
	}, nil
}

// unwatch undoes Attach's count of a room's streams.
func (h *Hub) unwatch(name string) {
	h.readers.Add(-1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers[name]--; h.watchers[name] <= 0 {
		delete(h.watchers, name)
	}
}

func isBound(binds []Bind, id uint64) bool {
	for _, b := range binds {
		if b.Member == id {
			return true
		}
	}
	return false
}

// detach undoes Attach's binds. The room cannot have been dropped
// meanwhile, since a room with members is never idle; if its members have
// all gone and it was, nothing here matters any more.
func (h *Hub) detach(r *room, bound []Bind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	// A failed update leaves the shared state keeping the member for this
	// node; the next attach or detach of it writes it right.
	_ = r.keep(h, bound, -1, h.cfg.Now())
}

// keep adds (by +1) or removes (by -1) one stream from this node's count
// for each bound member, and records in the state what changed of how this
// node keeps them present (RoomState.Keep), bringing the list up to date
// (RoomState.Refresh) in the same update. A member whose last stream closed
// keeps its state for the grace period, so that a tab reconnecting (or
// handing its stream to another tab) does not flicker. It is called with
// r.mu held.
func (r *room) keep(h *Hub, bound []Bind, by int, now time.Time) error {
	type change struct {
		id uint64
		p  Presence
	}
	var changes []change
	for _, b := range bound {
		s, ok := r.local[b.Member]
		if by < 0 && !ok {
			continue // left while the stream was open
		}
		before := s.presence()
		s.open += by
		if !b.Idle {
			s.visible += by
		}
		if s.open <= 0 {
			delete(r.local, b.Member)
		} else {
			r.local[b.Member] = s
		}
		if p := s.presence(); p != before {
			changes = append(changes, change{b.Member, p})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	return r.update(h, now, func(s *RoomState) error {
		changed := false
		for _, c := range changes {
			if s.Keep(c.id, h.keeper(), c.p, now) {
				changed = true
			}
		}
		if !s.Refresh(now, h.cfg.PresenceGrace) && !changed {
			return ErrNoChange
		}
		return nil
	})
}

// publishList sends readers the member list, if it changed without an event
// carrying it and has waited the debounce. Rapid changes (a reader switching
// tabs back and forth) thus reach readers as one update.
func (r *room) publishList(h *Hub, now time.Time) {
	if !r.unsent || now.Sub(r.unsentSince) < h.cfg.PresenceDebounce {
		return
	}
	r.unsent = false
	if r.state.Seq <= r.sent {
		return
	}
	r.sent = r.state.Seq
	r.outbox = append(r.outbox, Delivery{
		Room:    r.name,
		Event:   Event{ID: r.last(), Kind: KindMembers, Time: now},
		Members: r.state.List(),
		Seq:     r.state.Seq,
	})
}
