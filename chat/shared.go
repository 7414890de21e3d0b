package chat

import (
	"context"
	"errors"
	"time"
)

// With a shared Log and StateStore (Config.Shared), other nodes append to
// a room and change its state too. Each node then follows every room it
// serves twice: the log from the newest id it has published (followLog),
// and the state (followState). Every event reaches this node's readers
// through followLog, those this node appended included, so that there is
// one order of events per room on every node: the log's.
//
// A lone node (not Shared) keeps publishing what it appends straight from
// its outbox: it has the event in plaintext already, while following would
// open every record again and add a goroutine hand-off per event, for
// nothing, since no one else appends.

// retryFollow is how long a follower waits before following again after
// its log or store failed (a network log that lost its connection).
const retryFollow = 250 * time.Millisecond

// errStopFollowing ends a follower whose room this node no longer serves.
var errStopFollowing = errors.New("chat: the room is no longer served here")

// follow starts the followers of a shared room that lookup just made, the
// log's from after id from. It
// is called with h.mu held; the followers end when the room is forgotten
// (r.stop).
func (h *Hub) follow(r *room, from uint64) {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	if h.closed {
		cancel()
		return
	}
	h.following.Add(2)
	go func() {
		defer h.following.Done()
		h.followLog(ctx, r, from)
	}()
	go func() {
		defer h.following.Done()
		h.followState(ctx, r)
	}()
}

// Close stops following the shared rooms this node serves, and waits for
// its followers to end; a lone node has none. It also tells each room's
// state that this node keeps no member present any more (ForgetNode), so
// that members whose only streams were here go away after the grace on
// the other nodes rather than staying online; a failed update leaves them
// kept. The hub should not be used afterwards: it no longer publishes what
// other nodes append.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		if r.stop != nil {
			r.stop()
		}
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	h.following.Wait()
	now := h.cfg.Now()
	for _, r := range rooms {
		r.mu.Lock()
		_ = r.update(h, now, func(s *RoomState) error {
			if !s.ForgetNode(h.keeper(), now) {
				return ErrNoChange
			}
			return nil
		})
		r.mu.Unlock()
	}
}

// followLog publishes each record of the room after after, as the log
// keeps them, until ctx ends. Records no longer kept (this node fell behind
// the log's retention, or the room's log was dropped and begun again) send
// readers a reset to the oldest record kept.
func (h *Hub) followLog(ctx context.Context, r *room, after uint64) {
	for ctx.Err() == nil {
		err := h.log.Watch(ctx, r.name, after, func(rec Record) error {
			if err := h.publishRecord(r, rec); err != nil {
				return err
			}
			after = rec.ID
			return nil
		})
		switch {
		case ctx.Err() != nil, errors.Is(err, errStopFollowing):
			return
		case errors.Is(err, ErrTruncated):
			oldest, _, ok, err := h.log.Bounds(r.name)
			if err == nil && ok {
				after = oldest - 1
				h.publishOrdered(r, Delivery{Room: r.name, Event: Event{ID: after, Kind: KindReset, Time: h.cfg.Now()}})
				continue
			}
		}
		// The log failed, or holds nothing of the room (it was dropped:
		// followState forgets the room when its state says so).
		select {
		case <-ctx.Done():
		case <-time.After(retryFollow):
		}
	}
}

// publishRecord opens a record read from the shared log and publishes it;
// a join or leave carries the member list from the state as the store
// holds it now, which already has the change (the state is updated before
// the event is appended).
func (h *Hub) publishRecord(r *room, rec Record) error {
	ev, err := h.open(r.name, rec)
	if err != nil {
		// A record that does not open was not sealed by a node with this
		// key, or was changed: readers never see it.
		return nil
	}
	d := Delivery{Room: r.name, Event: ev}
	now := h.cfg.Now()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errStopFollowing
	}
	r.newest = max(r.newest, rec.ID)
	if ev.Affects() {
		_ = r.reload(h, now) // on failure, this node's copy is the best it has
		d.Members, d.Seq = r.state.List(), r.state.Seq
		if d.Seq >= r.sent {
			r.sent, r.unsent = d.Seq, false
		}
	}
	r.mu.Unlock()
	h.publishOrdered(r, d)
	return nil
}

// publishOrdered publishes what the room has queued (its reset, member
// lists) and then d, holding the room's publishing lock, so publish sees
// one room's deliveries one at a time and in order.
func (h *Hub) publishOrdered(r *room, d Delivery) {
	r.publishing.Lock()
	defer r.publishing.Unlock()
	r.mu.Lock()
	out := r.outbox
	r.outbox = nil
	r.mu.Unlock()
	for _, q := range out {
		h.publish(q)
	}
	h.publish(d)
}

// followState keeps this node's copy of the room's state up to date from
// the store's Watch, until ctx ends. A state whose life is not the one
// this node serves (the room was dropped by another node, perhaps begun
// again, or the store lost it) makes this node forget the room; if it
// lives again, the room is looked up afresh, which tells readers with a
// reset.
func (h *Hub) followState(ctx context.Context, r *room) {
	for ctx.Err() == nil {
		err := h.state.Watch(ctx, r.name, func(s RoomState, rev Revision) error {
			now := h.cfg.Now()
			r.mu.Lock()
			if r.closed {
				r.mu.Unlock()
				return errStopFollowing
			}
			if s.Live() && s.Base == r.state.Base {
				r.adopt(h, s, rev, now)
				r.mu.Unlock()
				return nil
			}
			r.mu.Unlock()
			h.restart(r, s.Live())
			return errStopFollowing
		})
		if ctx.Err() != nil || errors.Is(err, errStopFollowing) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryFollow):
		}
	}
}

// restart forgets a room whose life ended elsewhere, and, if it lives
// again, serves its new life.
//
// A life that ended with members in it was lost, not dropped (a room is
// dropped only empty): the store forgot it (a NATS restart with memory
// storage, an operator's purge). Its readers are sent a reset at once
// rather than at the room's next life, which may never come, so pages
// reload; and each member's name is remembered as departed, so the page a
// browser reloads into offers it again (Departed).
func (h *Hub) restart(r *room, again bool) {
	h.mu.Lock()
	r.mu.Lock()
	var lost []StateMember
	if !r.closed && h.rooms[r.name] == r {
		lost = r.state.Members
		h.forget(r)
	}
	newest := r.newest
	r.mu.Unlock()
	h.mu.Unlock()
	if len(lost) > 0 && !again {
		now := h.cfg.Now()
		for _, m := range lost {
			h.rememberDeparture(m.Owner, r.name, m.Name, now)
		}
		h.publishOrdered(r, Delivery{Room: r.name, Event: Event{ID: newest, Kind: KindReset, Time: now}})
	}
	if !again {
		return
	}
	if nr, err := h.lookup(r.name, false); err == nil {
		h.deliver(nr)
	}
}
