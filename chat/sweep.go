package chat

import (
	"context"
	"errors"
	"fmt"
	"time"
)

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
