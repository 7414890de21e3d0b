package chat

import (
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
	live      liveness       // this run's name in Keep entries, and its beats (sweep.go)

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
