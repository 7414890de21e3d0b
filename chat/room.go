package chat

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A Member is one name in one room, as shown in the member list.
type Member struct {
	ID    uint64
	Name  string
	State Presence
}

// member is the room's record of a Member.
type member struct {
	id    uint64
	owner string // the opaque identity of the browser that joined
	name  string
	key   string   // the name's comparison key
	looks []string // its look-alike keys (lookAlikes), each in room.names

	streams   int       // open streams that keep it present
	visible   int       // those of them from a visible tab
	shown     Presence  // what the member list says
	awaySince time.Time // when streams last fell to zero, or its last post since
}

// room is the state of one room. Every field is guarded by mu.
type room struct {
	name string

	mu      sync.Mutex
	closed  bool   // dropped from the hub; callers holding it must look again
	newest  uint64 // id of the newest event, or one less than the room's first
	members map[uint64]*member
	names   map[string]uint64 // look-alike key → member id, several per member
	touched time.Time         // last join, leave or post

	outbox     []Delivery // appended and not yet handed to publish, oldest first
	publishing sync.Mutex // held while handing the outbox to publish; see Hub.deliver

	seq         uint64    // grows with every change of the member list
	unsent      bool      // the list changed since readers were last sent it
	unsentSince time.Time // when it first did
}

func newRoom(name string, newest uint64, now time.Time) *room {
	return &room{
		name:    name,
		newest:  newest,
		members: make(map[uint64]*member),
		names:   make(map[string]uint64),
		touched: now,
	}
}

// last is the id of the newest event, or one less than the first id the room
// will use when it has none yet.
func (r *room) last() uint64 { return r.newest }

// maxConflicts bounds how often append takes a fresh id because the log
// moved on (another server appended first) before it gives up.
const maxConflicts = 8

// append seals ev as the room's next event, appends it to the log and
// queues it for publishing (Hub.deliver). It is called with r.mu held,
// which is what keeps ids and the queue in the same order on this server. The record is sealed with
// its place as associated data, so when the log has moved on it is sealed
// again for the next place.
func (r *room) append(h *Hub, ev Event) (Event, error) {
	ev, _, err := r.appendOnce(h, ev, "")
	return ev, err
}

// appendOnce is append for an event the log keeps under a client's id (cid,
// "" for none; see scopedClientID). If the room still keeps an event under
// that id, that event is returned, opened from its record, with appended
// false, and nothing is stored or queued: the client sent it again.
func (r *room) appendOnce(h *Hub, ev Event, cid string) (Event, bool, error) {
	// The form the record keeps, so a reader sees the same value live and
	// from history: UTC, nanoseconds, no monotonic reading.
	ev.Time = time.Unix(0, ev.Time.UnixNano()).UTC()
	for tries := 0; ; tries++ {
		ev.ID = r.newest + 1
		sealed, err := h.box.Seal(r.name, ev.payload(), associatedData(r.name, ev.ID, ev.Member))
		if err != nil {
			return Event{}, false, fmt.Errorf("seal event: %w", err)
		}
		stored, appended, err := h.log.Append(r.name, r.newest, Record{ID: ev.ID, Member: ev.Member, CID: cid, Sealed: sealed})
		if err == nil && !appended {
			first, err := h.open(r.name, stored)
			return first, false, err
		}
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) {
			return Event{}, false, fmt.Errorf("append event: %w", err)
		}
		if tries == maxConflicts {
			return Event{}, false, errTooManyConflicts
		}
		_, newest, ok, err := h.log.Bounds(r.name)
		if err != nil {
			return Event{}, false, fmt.Errorf("append event: %w", err)
		}
		if ok {
			r.newest = newest
		}
	}
	r.newest = ev.ID
	d := Delivery{Room: r.name, Event: ev}
	if ev.Affects() {
		// A join or leave carries the list, pending presence changes with it.
		r.seq++
		r.unsent = false
		d.Members, d.Seq = r.memberList(), r.seq
	}
	r.outbox = append(r.outbox, d)
	return ev, true, nil
}

// memberList returns the members sorted by name.
func (r *room) memberList() []Member {
	list := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		list = append(list, Member{ID: m.id, Name: m.name, State: m.shown})
	}
	slices.SortFunc(list, func(a, b Member) int {
		return cmp.Or(cmp.Compare(r.members[a.ID].key, r.members[b.ID].key), cmp.Compare(a.ID, b.ID))
	})
	return list
}

// find returns the owner's member with the given id, or, for id 0, the
// owner's most recent member in the room.
func (r *room) find(owner string, id uint64) *member {
	if id != 0 {
		if m := r.members[id]; m != nil && m.owner == owner {
			return m
		}
		return nil
	}
	var latest *member
	for _, m := range r.members {
		if m.owner == owner && (latest == nil || m.id > latest.id) {
			latest = m
		}
	}
	return latest
}

// remove takes a member out of the room and announces it.
func (r *room) remove(h *Hub, m *member, now time.Time) error {
	delete(r.members, m.id)
	for _, k := range m.looks {
		delete(r.names, k)
	}
	h.counts.members.Add(-1)
	r.touched = now
	// A bearer's secret dies with its member; a bot joins again with a new
	// secret, so there is no name to offer it back.
	if !h.forgetBearer(m.owner) {
		h.rememberDeparture(m.owner, r.name, m.name, now)
	}
	_, err := r.append(h, Event{Kind: KindLeave, Time: now, Member: m.id, Name: m.name})
	return err
}

// expire updates what the list shows of members whose last stream closed,
// removes those away for longer than the away timeout, and sends readers
// the list if presence changed.
func (r *room) expire(h *Hub, now time.Time) error {
	for _, m := range r.members {
		if m.streams == 0 && now.Sub(m.awaySince) >= h.cfg.AwayTimeout {
			if err := r.remove(h, m, now); err != nil {
				return err
			}
			continue
		}
		r.refresh(m, now, h.cfg.PresenceGrace)
	}
	r.publishList(h, now)
	return nil
}

// idle reports whether the room can be dropped: no members, and nothing
// done in it for a while. Streams do not count: watching a room never keeps
// it (nor makes it).
func (r *room) idle(now time.Time, after time.Duration) bool {
	return len(r.members) == 0 && now.Sub(r.touched) >= after
}
