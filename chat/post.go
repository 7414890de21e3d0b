package chat

import "time"

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
