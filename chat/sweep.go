package chat

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Run sweeps the rooms every interval until ctx ends: it shows members away,
// removes those away too long, sends readers changed member lists, and
// drops idle rooms. Passing trouble of a shared store (see Passing) does
// not end it: the next sweep tries again. Its error is any other of Sweep.
func (h *Hub) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := h.Sweep(); err != nil && !Passing(err) {
				return err
			}
		}
	}
}

// Sweep does one round of Run's work now. A shared node whose State is a
// NodeRegistry also beats (at most every Config.NodeTTL/4) and, in each
// room it serves, forgets the streams of nodes that have not beaten for
// Config.NodeTTL and writes back its own where the state lost them (see
// liveness). Its error is that of a state or log that failed, or of a
// Config.Node that CheckNode refuses. A room whose shared state or log is
// passing trouble (see Passing) is left for the next sweep while the
// others are swept; Sweep then returns that trouble, after the rest.
func (h *Hub) Sweep() error {
	var passing error // the first room's passing trouble (see Passing)
	var alive map[string]bool
	if h.cfg.Shared {
		var err error
		if alive, err = h.beat(h.cfg.Now()); err != nil {
			return err
		}
		h.serveWaiting()
	}
	for _, r := range h.allRooms() {
		r.mu.Lock()
		var err error
		if !r.closed {
			now := h.cfg.Now()
			if err = r.liveness(h, alive, now); err == nil {
				err = r.expire(h, now)
			}
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
		if Passing(err) {
			// The shared store did not answer for this room: the next
			// sweep tries it again; the other rooms are swept meanwhile.
			passing = cmp.Or(passing, fmt.Errorf("sweep room: %w", err))
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
			if err := h.drop(r, now); Passing(err) {
				passing = cmp.Or(passing, fmt.Errorf("drop room: %w", err))
			} else if err != nil {
				r.mu.Unlock()
				return fmt.Errorf("drop room: %w", err)
			}
		}
		r.mu.Unlock()
	}
	h.forgetDepartures(now)
	return passing
}

// Passing reports whether err is trouble that passes: a shared Log or
// StateStore that could not be reached in time (ErrUnavailable), or that
// other nodes kept changing (ErrLogBusy, ErrStateBusy). A request that
// meets it is answered 503; a Sweep that meets it has swept the other rooms
// and tries again at the next, and Run goes on.
func Passing(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrLogBusy) || errors.Is(err, ErrStateBusy)
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
	// Only the ended life's records: another node may have begun the next
	// one since the tombstone, above newest.
	return h.log.Drop(r.name, newest)
}

// forget removes a room from this node, with h.mu and r.mu held.
func (h *Hub) forget(r *room) {
	r.closed = true
	delete(h.rooms, r.name)
	h.box.Forget(r.name)
	if f, ok := h.log.(Forgetter); ok {
		f.Forget(r.name)
	}
	h.counts.members.Add(-int64(len(r.state.Members)))
	if r.stop != nil {
		r.stop()
	}
	if h.dropped != nil {
		h.dropped(r.name)
	}
}

// beatsPerTTL is how many beats a node makes within Config.NodeTTL: a node
// is taken for dead after missing three in a row (and the time of the
// fourth), not after one late sweep.
const beatsPerTTL = 4

// liveness is a Hub's run (the random part of its Keep key) and its beats.
type liveness struct {
	once sync.Once
	run  string

	mu          sync.Mutex
	first, last time.Time // the hub's first and latest beats that the registry took
}

// keeper returns this Hub's key in RoomState.Keep: Config.Node, '/', and
// the Hub's run, drawn once. A node that restarts under its name is thus
// another keeper, and the former run's entries go when it is found dead.
func (h *Hub) keeper() string {
	h.live.once.Do(func() {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
		h.live.run = hex.EncodeToString(b[:])
	})
	return h.cfg.Node + "/" + h.live.run
}

// beat tells the NodeRegistry that this node is alive, if its last beat is
// NodeTTL/beatsPerTTL old, and returns the nodes alive, this one included,
// or nil when this node must take no other for dead: its State is no
// NodeRegistry; it began beating less than NodeTTL ago (it may not have
// heard the others' beats yet); its own beats fail, or did for NodeTTL
// (then it is the one cut off, most likely); or the registry cannot tell.
// A registry that fails is not Sweep's error: liveness waits for it to
// work again. A Config.Node that CheckNode refuses is, on any shared node.
func (h *Hub) beat(now time.Time) (map[string]bool, error) {
	if err := CheckNode(h.cfg.Node); err != nil {
		return nil, fmt.Errorf("beat: %w", err)
	}
	reg, ok := h.state.(NodeRegistry)
	if !ok {
		return nil, nil
	}
	self := h.keeper()
	l := &h.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() || now.Sub(l.last) >= h.cfg.NodeTTL/beatsPerTTL {
		err := reg.Beat(self, now)
		if errors.Is(err, ErrNodeName) {
			return nil, fmt.Errorf("beat: %w", err)
		}
		if err == nil {
			if l.first.IsZero() {
				l.first = now
			}
			l.last = now
		}
	}
	if l.first.IsZero() || now.Sub(l.first) < h.cfg.NodeTTL || now.Sub(l.last) >= h.cfg.NodeTTL {
		return nil, nil
	}
	alive, known, err := reg.Alive(now, h.cfg.NodeTTL)
	if err != nil || !known {
		return nil, nil
	}
	if alive == nil {
		alive = make(map[string]bool)
	}
	alive[self] = true
	return alive, nil
}

// liveness brings the room's Keep entries in line with what this node
// knows, in one update and only when they differ: it forgets every node
// that keeps members present but is not alive (alive nil: none is taken
// for dead), and writes this node's own entries back from its streams
// where the state says otherwise (another node took this one for dead
// while it could not beat, or an update of its own failed). Members a
// dead node kept are then Away as of now, and Expire shows them away after
// the grace. A lone node does nothing here. It is called with r.mu held.
func (r *room) liveness(h *Hub, alive map[string]bool, now time.Time) error {
	if !h.cfg.Shared {
		return nil
	}
	self := h.keeper()
	var dead []string
	if alive != nil {
		for _, node := range r.state.Keepers() {
			if !alive[node] {
				dead = append(dead, node)
			}
		}
	}
	want := make(map[uint64]Presence, len(r.local))
	for id, st := range r.local {
		want[id] = st.presence()
	}
	if len(dead) == 0 && r.state.KeptAs(self, want) {
		return nil
	}
	return r.update(h, now, func(s *RoomState) error {
		changed := s.KeepAs(self, want, now)
		for _, node := range dead {
			if s.ForgetNode(node, now) {
				changed = true
			}
		}
		if !changed {
			return ErrNoChange
		}
		return nil
	})
}
