package chat

import "time"

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
	var joined string // the room's canonical name
	err := h.withRoom(roomName, true, func(r *room, now time.Time) error {
		joined = r.name
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
	if err == nil && token == (Digest{}) {
		// A bot's owner is never renewed; a browser's is, on any node.
		h.addOwnerRoom(owner, joined)
	}
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

// Rebind hands everything that owner old has (its members in every room,
// and the names it left behind) to owner new. The web layer calls it when it
// renews a browser's session id. A shared node with an OwnerIndex (see
// owners.go) also does so in the rooms of old's index entry that other
// nodes serve, and moves the entry to new; without one, it reaches only
// the rooms this node serves. The names left behind stay per node.
func (h *Hub) Rebind(old, new string) {
	if old == new {
		return
	}
	served := make(map[string]bool) // room → new owns members there after
	for _, r := range h.allRooms() {
		r.mu.Lock()
		if !r.closed {
			// A failed update leaves the members with the old owner; the web
			// layer's next renewal tries again.
			err := r.update(h, h.cfg.Now(), func(s *RoomState) error {
				if !swapOwner(s, old, new) {
					return ErrNoChange
				}
				return nil
			})
			if err == nil { // else, with an index, through the store below
				served[r.name] = ownsMember(&r.state, new)
			}
		}
		r.mu.Unlock()
	}
	if ix := h.owners(); ix != nil {
		h.rebindIndexed(ix, old, new, served)
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
