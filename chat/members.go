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
