package chat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloakroom/cloakroom/crypto"
)

// A Delivery is an event on its way to a room's readers. Members is the
// room's member list just after the event, for events that change it
// (Event.Affects), and Seq that list's place in the room's sequence of lists.
type Delivery struct {
	Room    string
	Event   Event
	Members []Member
	Seq     uint64
}

// Hub owns all rooms. It is safe for concurrent use.
type Hub struct {
	box     *crypto.Box
	log     Log
	state   StateStore
	cfg     Config
	publish func(Delivery)
	dropped func(room string)

	readers atomic.Int64 // open streams over all rooms
	counts  counters     // see Stats

	mu       sync.Mutex // guards rooms, watchers and lastBase; taken before any room's lock
	rooms    map[string]*room
	watchers map[string]int // open streams per room name, whether the room exists or not
	lastBase uint64
	closed   bool // Close was called: start no more followers

	following sync.WaitGroup // the followers of shared rooms (Hub.follow)

	departedMu sync.Mutex
	departed   map[departure]departed

	bearerMu sync.Mutex // taken after a room's lock, never before
	bearers  map[Digest]Holder
}

// NewHub returns a hub that seals history with box and hands every event to
// publish, in each room's order. publish is called for one room at a time,
// without the room's lock (so rendering an event never holds up the next
// append): it must not block, and must not call back into the hub. dropped, if not nil, is called
// when an idle room is removed, after which no event of that room will be
// published until it is created again.
func NewHub(box *crypto.Box, cfg Config, publish func(Delivery), dropped func(room string)) *Hub {
	cfg = cfg.withDefaults()
	return &Hub{
		box:      box,
		log:      cfg.Log,
		state:    cfg.State,
		cfg:      cfg,
		publish:  publish,
		dropped:  dropped,
		rooms:    make(map[string]*room),
		watchers: make(map[string]int),
		departed: make(map[departure]departed),
		bearers:  make(map[Digest]Holder),
	}
}

// withRoom runs fn with the named room locked. With create, a missing room
// is made (within the MaxRooms limit); without, a missing room is ErrNoRoom.
func (h *Hub) withRoom(name string, create bool, fn func(r *room, now time.Time) error) error {
	name, err := RoomName(name)
	if err != nil {
		return err
	}
	for {
		r, err := h.lookup(name, create)
		if err != nil {
			return err
		}
		r.mu.Lock()
		if r.closed { // dropped between lookup and lock: look again
			r.mu.Unlock()
			continue
		}
		err = fn(r, h.cfg.Now())
		queued := len(r.outbox) > 0
		r.mu.Unlock()
		if queued {
			h.deliver(r)
		}
		if errors.Is(err, errStaleLife) {
			h.restart(r, false)
			continue
		}
		return err
	}
}

func (h *Hub) lookup(name string, create bool) (*room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[name]; r != nil {
		return r, nil
	}
	if len(h.rooms) >= h.cfg.MaxRooms && create {
		h.counts.refusedRooms.Add(1)
		return nil, ErrTooManyRooms
	}
	now := h.cfg.Now()
	// A log shared with other servers may hold the room already, and a
	// store shared with them may have it living.
	_, newest, _, err := h.log.Bounds(name)
	if err != nil {
		return nil, fmt.Errorf("read the room's log: %w", err)
	}
	var s RoomState
	var rev Revision
	if create {
		// Ids start from the clock in microseconds, so a room made again
		// after being dropped, or after a restart, never reuses an id of its
		// former life: that would need more than one event per microsecond
		// on average. The values stay below 2^53, so JavaScript reads them
		// exactly. Begin also keeps them above the floor of earlier lives.
		start := time.UnixMicro(max(now.UnixMicro(), int64(h.lastBase)+1))
		s, rev, err = UpdateState(h.state, name, func(s *RoomState) error {
			if !s.Begin(start, newest) {
				return ErrNoChange
			}
			s.Touched = now
			return nil
		})
	} else {
		s, rev, err = h.state.Load(name)
	}
	if err != nil {
		return nil, fmt.Errorf("begin the room's state: %w", err)
	}
	if !s.Live() {
		return nil, ErrNoRoom
	}
	if len(h.rooms) >= h.cfg.MaxRooms {
		h.counts.refusedRooms.Add(1)
		return nil, ErrTooManyRooms
	}
	h.lastBase = max(h.lastBase, s.Base)
	newest = max(newest, s.Base-1)
	r := newRoom(name, newest, now)
	r.state, r.rev, r.sent = s, rev, s.Seq
	h.counts.members.Add(int64(len(s.Members)))
	// Streams that waited for the room, or watched an earlier life of it,
	// learn that it begins here, before its first event.
	// On a shared log, this node may begin serving a room that lives on
	// others already: its readers (those that waited for the room) follow
	// it from the start of its life, as on a lone node. Readers placed
	// further on skip what they have.
	from := newest
	if h.cfg.Shared {
		from = s.Base - 1
	}
	r.outbox = append(r.outbox, Delivery{Room: name, Event: Event{ID: from, Kind: KindReset, Time: now}})
	h.rooms[name] = r
	if h.cfg.Shared {
		h.follow(r, from)
	}
	return r, nil
}

// Join adds a member named name to a room, creating the room if needed, and
// announces it. owner is the opaque identity of the browser that joins.
func (h *Hub) Join(owner, roomName, name string) (Member, error) {
	return h.join(owner, roomName, name, Digest{})
}

// join is Join for a member with bearer secret digest token (zero for a
// browser's).
func (h *Hub) join(owner, roomName, name string, token Digest) (Member, error) {
	if _, _, err := Nickname(name); err != nil {
		return Member{}, err
	}
	var added Member
	err := h.withRoom(roomName, true, func(r *room, now time.Time) error {
		var seated StateMember
		// A life another node ended meanwhile is errStaleLife, and withRoom
		// looks the room up afresh, which begins its next one.
		err := r.update(h, now, func(s *RoomState) error {
			var err error
			seated, err = s.Seat(owner, name, token, now, StateLimits{MaxMembers: h.cfg.MaxMembers, MaxOwnNames: h.cfg.MaxOwnNames})
			return err
		})
		switch err {
		case ErrRoomFull:
			h.counts.refusedMembers.Add(1)
		case ErrTooManyNames:
			h.counts.refusedOwners.Add(1)
		}
		if err != nil {
			return err
		}
		r.touched = now
		h.counts.joins.Add(1)
		h.counts.members.Add(1)
		if token != (Digest{}) {
			h.bearerMu.Lock()
			h.bearers[token] = Holder{Owner: owner, Room: r.name, Member: seated.ID}
			h.bearerMu.Unlock()
		}
		added = Member{ID: seated.ID, Name: seated.Name, State: seated.Shown}
		// The update won: this node announces the join, and settles it.
		if p, ok := pendingOf(&r.state, KindJoin, seated.ID); ok {
			return r.announce(h, p, now)
		}
		return nil
	})
	return added, err
}

// Leave removes the owner's member (0: the owner's latest) from a room and
// announces it.
func (h *Hub) Leave(owner, roomName string, id uint64) error {
	return h.withRoom(roomName, false, func(r *room, now time.Time) error {
		var gone StateMember
		err := r.update(h, now, func(s *RoomState) error {
			var err error
			gone, err = s.Leave(owner, id, now)
			return err
		})
		if err != nil {
			return err
		}
		r.departedMember(h, gone, now)
		if p, ok := pendingOf(&r.state, KindLeave, gone.ID); ok {
			return r.announce(h, p, now)
		}
		return nil
	})
}

// Post adds a message by the owner's member (0: the owner's latest) to a
// room. The text is normalised by MessageText first.
//
// cid, if not "", is the client's own id for the message (see ClientID),
// so that a client unsure whether its post arrived can send it again: while
// the room keeps a message of the same member under that id, Post returns
// that message, publishes nothing and stores nothing. The same id with
// another text is ErrClientIDReused, a malformed one ErrInvalidClientID.
// Each member's ids are its own.
func (h *Hub) Post(owner, roomName string, id uint64, text, cid string) (Event, error) {
	text, err := MessageText(text)
	if err != nil {
		return Event{}, err
	}
	if cid != "" {
		if cid, err = ClientID(cid); err != nil {
			return Event{}, err
		}
	}
	var posted Event
	err = h.withRoom(roomName, false, func(r *room, now time.Time) error {
		m, ok, err := r.find(h, owner, id, now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotMember
		}
		r.touched = now
		// Posting counts as being present. The state learns it at the next
		// sweep, so that a post writes nothing but the log.
		r.posted[m.ID] = now
		ev := Event{Kind: KindMessage, Time: now, Member: m.ID, Name: m.Name, Text: text}
		if cid == "" {
			posted, err = r.append(h, ev)
			if err == nil {
				h.counts.posts.Add(1)
			}
			return err
		}
		var appended bool
		posted, appended, err = r.appendOnce(h, ev, scopedClientID(m.ID, cid))
		if err == nil && appended {
			h.counts.posts.Add(1)
		}
		if err == nil && !appended && (posted.Kind != KindMessage || posted.Member != m.ID || posted.Text != text) {
			posted, err = Event{}, ErrClientIDReused
		}
		return err
	})
	if err == ErrNoRoom {
		err = ErrNotMember
	}
	return posted, err
}

// Rebind hands everything that owner old has (its members in every room,
// and the names it left behind) to owner new. The web layer calls it when it
// renews a browser's session id.
func (h *Hub) Rebind(old, new string) {
	for _, r := range h.allRooms() {
		r.mu.Lock()
		if !r.closed {
			// A failed update leaves the members with the old owner; the web
			// layer's next renewal tries again.
			_ = r.update(h, h.cfg.Now(), func(s *RoomState) error {
				changed := false
				for i := range s.Members {
					if s.Members[i].Owner == old {
						s.Members[i].Owner = new
						changed = true
					}
				}
				if !changed {
					return ErrNoChange
				}
				return nil
			})
		}
		r.mu.Unlock()
	}
	h.departedMu.Lock()
	defer h.departedMu.Unlock()
	for k, d := range h.departed {
		if k.owner == old {
			delete(h.departed, k)
			h.departed[departure{new, k.room}] = d
		}
	}
}

// Membership returns the owner's member (0: the owner's latest) in a room,
// or ErrNotMember.
func (h *Hub) Membership(owner, roomName string, id uint64) (Member, error) {
	var found Member
	err := h.withRoom(roomName, false, func(r *room, now time.Time) error {
		m, ok, err := r.find(h, owner, id, now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotMember
		}
		found = Member{ID: m.ID, Name: m.Name, State: m.Shown}
		return nil
	})
	if err == ErrNoRoom {
		err = ErrNotMember
	}
	return found, err
}

// Run sweeps the rooms every interval until ctx ends: it shows members away,
// removes those away too long, sends readers changed member lists, and
// drops idle rooms.
func (h *Hub) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := h.Sweep(); err != nil {
				return err
			}
		}
	}
}

// Sweep does one round of Run's work now.
func (h *Hub) Sweep() error {
	if h.cfg.Shared {
		h.serveWaiting()
	}
	for _, r := range h.allRooms() {
		r.mu.Lock()
		var err error
		if !r.closed {
			err = r.expire(h, h.cfg.Now())
		}
		queued := len(r.outbox) > 0
		r.mu.Unlock()
		if queued {
			h.deliver(r)
		}
		if errors.Is(err, errStaleLife) {
			h.restart(r, false) // its readers wait for its next life here
			continue
		}
		if err != nil {
			return fmt.Errorf("sweep room: %w", err)
		}
	}

	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rooms {
		r.mu.Lock()
		if r.idle(now, h.cfg.RoomIdle) {
			if err := h.drop(r, now); err != nil {
				r.mu.Unlock()
				return fmt.Errorf("drop room: %w", err)
			}
		}
		r.mu.Unlock()
	}
	h.forgetDepartures(now)
	return nil
}

// serveWaiting looks up the rooms that this node's streams wait for and
// that may have begun on another node since, so that their readers follow
// them from their first event (they are sent the reset that begins a life).
func (h *Hub) serveWaiting() {
	h.mu.Lock()
	var waiting []string
	for name := range h.watchers {
		if h.rooms[name] == nil {
			waiting = append(waiting, name)
		}
	}
	h.mu.Unlock()
	for _, name := range waiting {
		if r, err := h.lookup(name, false); err == nil {
			h.deliver(r)
		}
	}
}

// errNotIdle is drop's decision when the shared state shows the room in
// use after all (another node seated a member meanwhile).
var errNotIdle = errors.New("chat: the room is in use")

// drop ends an idle room's life: its state becomes its Tombstone (unless
// the state, read afresh, shows it in use after all), and this node
// forgets it. It is called with h.mu and r.mu held.
func (h *Hub) drop(r *room, now time.Time) error {
	newest := r.newest
	if _, last, ok, err := h.log.Bounds(r.name); err != nil {
		return fmt.Errorf("read the room's log: %w", err)
	} else if ok {
		newest = max(newest, last)
	}
	_, _, err := UpdateState(h.state, r.name, func(s *RoomState) error {
		if !s.Live() {
			return ErrNoChange // ended elsewhere; only this node's copy is left
		}
		if !s.Idle(now, h.cfg.RoomIdle) {
			return errNotIdle
		}
		s.Observe(newest)
		*s = s.Tombstone()
		return nil
	})
	if errors.Is(err, errNotIdle) {
		return r.reload(h, now)
	}
	if err != nil {
		return err
	}
	h.forget(r)
	return h.log.Drop(r.name)
}

// forget removes a room from this node, with h.mu and r.mu held.
func (h *Hub) forget(r *room) {
	r.closed = true
	delete(h.rooms, r.name)
	h.box.Forget(r.name)
	h.counts.members.Add(-int64(len(r.state.Members)))
	if r.stop != nil {
		r.stop()
	}
	if h.dropped != nil {
		h.dropped(r.name)
	}
}

// deliver hands a room's queued deliveries to publish, in order. Whoever
// appended takes the room's publishing lock after the room's own: the first
// to get it publishes what is queued, its own and what others appended
// meanwhile, and the rest find the queue empty.
func (h *Hub) deliver(r *room) {
	r.publishing.Lock()
	defer r.publishing.Unlock()
	for {
		r.mu.Lock()
		out := r.outbox
		r.outbox = nil
		r.mu.Unlock()
		if len(out) == 0 {
			return
		}
		for _, d := range out {
			h.publish(d)
		}
	}
}

// allRooms returns the rooms as they are now, to visit one at a time
// without holding the hub's lock.
func (h *Hub) allRooms() []*room {
	h.mu.Lock()
	defer h.mu.Unlock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// Rooms returns the number of rooms.
func (h *Hub) Rooms() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms)
}

// Readers returns the number of open streams on a room, whether it exists
// or not.
func (h *Hub) Readers(roomName string) int {
	name, err := RoomName(roomName)
	if err != nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.watchers[name]
}
