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
	if len(binds) > 0 {
		err = h.withRoom(name, false, func(rm *room, now time.Time) error {
			r = rm
			for _, b := range binds {
				m := r.find(owner, b.Member)
				if b.Member == 0 || m == nil || isBound(bound, m.id) {
					continue
				}
				bound = append(bound, Bind{Member: m.id, Idle: b.Idle})
				m.streams++
				if !b.Idle {
					m.visible++
				}
				r.refresh(m, now, h.cfg.PresenceGrace)
			}
			return nil
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
	now := h.cfg.Now()
	for _, b := range bound {
		m := r.members[b.Member]
		if m == nil {
			continue // left while the stream was open
		}
		m.streams--
		if !b.Idle {
			m.visible--
		}
		if m.streams == 0 {
			m.awaySince = now
		}
		r.refresh(m, now, h.cfg.PresenceGrace)
	}
}

// refresh brings what the member list shows of m up to date. A member whose
// last stream closed keeps its state for the grace period, so that a tab
// reconnecting (or handing its stream to another tab) does not flicker.
func (r *room) refresh(m *member, now time.Time, grace time.Duration) {
	state := m.shown
	switch {
	case m.visible > 0:
		state = Online
	case m.streams > 0:
		state = Idle
	case now.Sub(m.awaySince) >= grace:
		state = Away
	}
	if state == m.shown {
		return
	}
	m.shown = state
	r.listChanged(now)
}

// listChanged notes a change of the member list that readers have not been
// sent yet.
func (r *room) listChanged(now time.Time) {
	r.seq++
	if !r.unsent {
		r.unsent, r.unsentSince = true, now
	}
}

// publishList sends readers the member list, if it changed without an event
// carrying it and has waited the debounce. Rapid changes (a reader switching
// tabs back and forth) thus reach readers as one update.
func (r *room) publishList(h *Hub, now time.Time) {
	if !r.unsent || now.Sub(r.unsentSince) < h.cfg.PresenceDebounce {
		return
	}
	r.unsent = false
	r.outbox = append(r.outbox, Delivery{
		Room:    r.name,
		Event:   Event{ID: r.last(), Kind: KindMembers, Time: now},
		Members: r.memberList(),
		Seq:     r.seq,
	})
}
