package chat

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// A Member is one name in one room, as shown in the member list.
type Member struct {
	ID    uint64
	Name  string
	State Presence
}

// streams counts this node's open streams that keep one member present.
type streams struct {
	open    int // streams binding the member
	visible int // those of them from a visible tab
}

// presence is what this node's streams say of the member, for
// RoomState.Keep: Online, Idle, or Away when it has none.
func (s streams) presence() Presence {
	switch {
	case s.visible > 0:
		return Online
	case s.open > 0:
		return Idle
	}
	return Away
}

// room is one node's view of one room. The room's shared state (members,
// names, presence, lives) is decided in the Hub's StateStore; state and rev
// are this node's copy of it, replaced after each of its own updates and,
// when the store is shared, from the store's Watch. Every field is guarded
// by mu.
type room struct {
	name string

	mu      sync.Mutex
	closed  bool   // dropped from the hub; callers holding it must look again
	newest  uint64 // id of the newest event, or one less than the room's first
	state   RoomState
	rev     Revision
	local   map[uint64]streams   // this node's streams per member
	posted  map[uint64]time.Time // posts since the last sweep, per member; see Sweep
	touched time.Time            // last join, leave or post on this node

	outbox     []Delivery // appended and not yet handed to publish, oldest first
	publishing sync.Mutex // held while handing deliveries to publish; see Hub.deliver

	sent        uint64    // the state's Seq of the last member list readers were sent
	unsent      bool      // the list changed since readers were last sent it
	unsentSince time.Time // when it first did

	stop context.CancelFunc // ends the followers of a shared room (Hub.follow); nil for a lone node
}

func newRoom(name string, newest uint64, now time.Time) *room {
	return &room{
		name:    name,
		newest:  newest,
		local:   make(map[uint64]streams),
		posted:  make(map[uint64]time.Time),
		touched: now,
	}
}

// last is the id of the newest event, or one less than the first id the room
// will use when it has none yet.
func (r *room) last() uint64 { return r.newest }

// update decides a change of the room's state with UpdateState and keeps
// what was stored as this node's copy. It is called with r.mu held.
func (r *room) update(h *Hub, now time.Time, fn func(*RoomState) error) error {
	base := r.state.Base
	s, rev, err := UpdateState(h.state, r.name, func(s *RoomState) error {
		if s.Base != base {
			return errStaleLife
		}
		return fn(s)
	})
	if err != nil {
		return err
	}
	r.adopt(h, s, rev, now)
	return nil
}

// errStaleLife is an update's error when the room's life in the store is
// no longer the one this node serves: another node dropped it (and maybe
// began it again) before this node's follower noticed. withRoom then
// forgets the room and looks it up afresh.
var errStaleLife = errors.New("chat: the room's life ended on another node")

// adopt makes s, at rev, this node's copy of the room's state, unless it
// already has a newer one, and notes a member list readers were not sent.
func (r *room) adopt(h *Hub, s RoomState, rev Revision, now time.Time) {
	if rev < r.rev && rev != 0 && s.Base == r.state.Base {
		return
	}
	// The members gauge is the sum of the served rooms' member counts:
	// whoever changed the state, this node or another, it moves here.
	h.counts.members.Add(int64(len(s.Members) - len(r.state.Members)))
	r.state, r.rev = s, rev
	if s.Seq > r.sent && !r.unsent {
		r.unsent, r.unsentSince = true, now
	}
}

// reload reads the room's state from the store, for a node whose copy may
// be behind (another node seated the member it is asked about).
func (r *room) reload(h *Hub, now time.Time) error {
	s, rev, err := h.state.Load(r.name)
	if err != nil {
		return fmt.Errorf("load the room's state: %w", err)
	}
	if rev > r.rev {
		r.adopt(h, s, rev, now)
	}
	return nil
}

// find returns the owner's member with the given id (0: its latest),
// reading the store again when this node's copy does not have it and the
// store is shared.
func (r *room) find(h *Hub, owner string, id uint64, now time.Time) (StateMember, bool, error) {
	if m, ok := r.state.Find(owner, id); ok {
		return m, true, nil
	}
	if !h.cfg.Shared {
		return StateMember{}, false, nil
	}
	if err := r.reload(h, now); err != nil {
		return StateMember{}, false, err
	}
	m, ok := r.state.Find(owner, id)
	return m, ok, nil
}

// maxConflicts bounds how often append takes a fresh id because the log
// moved on (another server appended first) before it gives up.
const maxConflicts = 32

// ConflictBackoff is the wait before retry tries+1 (tries ≥ 1) of a
// compare-and-set that lost to another node (an append, a room's state, an
// owner's entry): random, below 100 µs·2^tries and below 4 ms. Writers
// that keep meeting would otherwise meet again at once.
func ConflictBackoff(tries int) time.Duration {
	return rand.N(min(100*time.Microsecond<<min(tries, 10), 4*time.Millisecond))
}

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
//
// On a shared log nothing is queued: every node publishes what its
// followers read from the log, its own events included (Hub.follow).
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
			return Event{}, false, ErrLogBusy
		}
		// The first retry goes at once, for the id the log read when it
		// refused. Two nodes whose posts keep meeting would meet again at
		// once, though: later retries wait a random while, growing with
		// each loss, and then read the newest id afresh (after the wait,
		// not before it, or the wait itself would make it stale).
		var ce *ConflictError
		if tries == 0 && errors.As(err, &ce) {
			r.newest = ce.Newest
			continue
		}
		time.Sleep(ConflictBackoff(tries))
		_, newest, ok, err := h.log.Bounds(r.name)
		if err != nil {
			return Event{}, false, fmt.Errorf("append event: %w", err)
		}
		if ok {
			r.newest = newest
		}
	}
	r.newest = ev.ID
	if h.cfg.Shared {
		return ev, true, nil
	}
	d := Delivery{Room: r.name, Event: ev}
	if ev.Affects() {
		// A join or leave carries the list, pending presence changes with it.
		d.Members, d.Seq = r.state.List(), r.state.Seq
		r.sent, r.unsent = d.Seq, false
	}
	r.outbox = append(r.outbox, d)
	return ev, true, nil
}

// announce appends the event of a Pending transition under its CID (so
// that however many nodes try, the log keeps it once) and then Settles it.
func (r *room) announce(h *Hub, p Pending, now time.Time) error {
	if _, _, err := r.appendOnce(h, p.Event(), p.CID); err != nil {
		return err
	}
	return r.update(h, now, func(s *RoomState) error {
		if !s.Settle(p.N) {
			return ErrNoChange
		}
		return nil
	})
}

// pendingOf returns the newest Pending entry of kind for member id.
func pendingOf(s *RoomState, kind Kind, id uint64) (Pending, bool) {
	for i := len(s.Pending) - 1; i >= 0; i-- {
		if p := s.Pending[i]; p.Kind == kind && p.Member == id {
			return p, true
		}
	}
	return Pending{}, false
}

// departedMember does this node's part when one of the room's members is
// gone (it left, or was removed for staying away): its streams and posts
// here are forgotten, a bearer's secret dies with it, and a browser is
// offered its name back.
func (r *room) departedMember(h *Hub, m StateMember, now time.Time) {
	delete(r.local, m.ID)
	delete(r.posted, m.ID)
	r.touched = now
	// A bearer's secret dies with its member; a bot joins again with a new
	// secret, so there is no name to offer it back.
	if !h.forgetBearer(m.Owner) {
		h.rememberDeparture(m.Owner, r.name, m.Name, now)
	}
}

// expire applies this node's posts since the last sweep to the state,
// removes the members away for longer than the away timeout (announcing
// each leave), appends the transitions other nodes decided and left
// unannounced for longer than the repair grace, and sends readers the list
// if presence changed.
func (r *room) expire(h *Hub, now time.Time) error {
	posted := r.posted
	var removed []StateMember
	err := r.update(h, now, func(s *RoomState) error {
		changed := false
		for id, t := range posted {
			if s.Posted(id, t) {
				changed = true
			}
		}
		var ch bool
		removed, ch = s.Expire(now, h.cfg.PresenceGrace, h.cfg.AwayTimeout)
		if !changed && !ch {
			return ErrNoChange
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.posted = make(map[uint64]time.Time)
	for _, m := range removed {
		r.departedMember(h, m, now)
		if p, ok := pendingOf(&r.state, KindLeave, m.ID); ok {
			if err := r.announce(h, p, now); err != nil {
				return err
			}
		}
	}
	for _, p := range Repair(r.state.Pending, now, h.cfg.RepairGrace) {
		if err := r.announce(h, p, now); err != nil {
			return err
		}
	}
	r.publishList(h, now)
	return nil
}

// idle reports whether the room can be dropped: no members, and nothing
// done in it for a while. Streams do not count: watching a room never keeps
// it (nor makes it).
func (r *room) idle(now time.Time, after time.Duration) bool {
	if now.Sub(r.touched) < after {
		return false
	}
	return !r.state.Live() || r.state.Idle(now, after)
}
