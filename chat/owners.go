package chat

import (
	"errors"
	"slices"
	"sync"
)

// Why an owner index: the web layer renews a browser's session id at every
// join (against session fixation) and calls Rebind, which hands the old
// owner's members to the new owner. A lone node serves every room the
// browser is in, so it finds them all. With several nodes behind a
// balancer, the node that renews may serve none of the browser's other
// rooms, and a StateStore shared by nodes keeps rooms under a token and
// sealed with the room's name, so it cannot be asked "where does owner X
// have members". An OwnerIndex answers that: each browser join adds the
// room to its owner's entry, and Rebind on any node moves the members in
// every room of the entry, then the entry itself.

// MaxOwnerRooms bounds the rooms an OwnerIndex keeps per owner. Past it,
// adding a room drops the owner's oldest (least recently joined) one: a
// renewal of that browser's session on a node that does not serve that
// room then misses it, so the member there stays with the old session id
// and that tab has to join again. 256 room names of at most MaxRoomLength
// bytes keep an entry under about 17 KB, which every join of the browser
// rewrites.
const MaxOwnerRooms = 256

// An OwnerIndex records, for each owner (a browser's opaque identity), the
// rooms where it joined a member, oldest first, at most MaxOwnerRooms. A
// Hub with Config.Shared uses one if its Config.State implements it
// (natsstate.Store does); without one, Rebind moves the members of the
// rooms the node serves only. Entries may name rooms the owner has left, or
// that were dropped: Rebind skips those and leaves them out of the new
// owner's entry. Owners never appear in a shared store's keys.
//
// Writes to one owner's entry from several nodes at once (two tabs of one
// browser joining on two nodes) must all take effect: an implementation
// shared by nodes changes an entry by compare-and-set and retries, and
// fails with ErrStateBusy if other writers keep winning.
type OwnerIndex interface {
	// AddRoom records room as owner's newest room, moving it to the end if
	// the entry has it already, and drops the oldest rooms past
	// MaxOwnerRooms.
	AddRoom(owner, room string) error
	// Rooms returns owner's rooms, oldest first, and the revision of its
	// entry (0: it has none).
	Rooms(owner string) ([]string, Revision, error)
	// Move adds rooms (oldest first) to new's entry as AddRoom would, then
	// removes old's entry, only if its revision is still expect (0: it has
	// none). If old's entry changed meanwhile, the error is ErrConflict:
	// nothing of old's is removed, new's entry may have gained rooms (it
	// owns their members already), and the caller reads old's entry again.
	Move(old string, expect Revision, new string, rooms []string) error
}

// AddOwnerRoom returns rooms with room as the newest, once, and at most
// MaxOwnerRooms of them (the oldest dropped). It reports false if rooms
// had room as its newest already: nothing to write.
func AddOwnerRoom(rooms []string, room string) ([]string, bool) {
	if n := len(rooms); n > 0 && rooms[n-1] == room {
		return rooms, false
	}
	out := make([]string, 0, min(len(rooms)+1, MaxOwnerRooms))
	skip := len(rooms) + 1 - MaxOwnerRooms // the oldest to drop, if positive
	for _, r := range rooms {
		if r == room {
			skip-- // leaves the entry: one fewer to drop for the bound
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, r)
	}
	return append(out, room), true
}

// MemoryOwnerIndex is an OwnerIndex in this process's memory, for Hubs of
// one process sharing a MemoryStateStore (tests): pair them in one value,
// as
//
//	struct {
//		*chat.MemoryStateStore
//		*chat.MemoryOwnerIndex
//	}
//
// It is safe for concurrent use.
type MemoryOwnerIndex struct {
	mu      sync.Mutex
	last    Revision
	entries map[string]ownerEntry
}

type ownerEntry struct {
	rooms []string
	rev   Revision
}

var _ OwnerIndex = (*MemoryOwnerIndex)(nil)

// NewMemoryOwnerIndex returns an empty index.
func NewMemoryOwnerIndex() *MemoryOwnerIndex {
	return &MemoryOwnerIndex{entries: make(map[string]ownerEntry)}
}

// AddRoom implements OwnerIndex.
func (m *MemoryOwnerIndex) AddRoom(owner, room string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(owner, room)
	return nil
}

// add is AddRoom with m.mu held.
func (m *MemoryOwnerIndex) add(owner, room string) {
	rooms, changed := AddOwnerRoom(m.entries[owner].rooms, room)
	if changed {
		m.last++
		m.entries[owner] = ownerEntry{rooms: rooms, rev: m.last}
	}
}

// Rooms implements OwnerIndex.
func (m *MemoryOwnerIndex) Rooms(owner string) ([]string, Revision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[owner]
	return slices.Clone(e.rooms), e.rev, nil
}

// Move implements OwnerIndex.
func (m *MemoryOwnerIndex) Move(old string, expect Revision, new string, rooms []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[old].rev != expect {
		return ErrConflict
	}
	for _, r := range rooms {
		m.add(new, r)
	}
	delete(m.entries, old)
	return nil
}

// owners returns the Hub's owner index, or nil when it has none: a lone
// node does not need one (it serves every room), and a shared store may not
// have one.
func (h *Hub) owners() OwnerIndex {
	if !h.cfg.Shared {
		return nil
	}
	ix, _ := h.state.(OwnerIndex)
	return ix
}

// addOwnerRoom records a browser's join in the owner index. A failure
// leaves the join standing (it was announced): the entry only misses the
// room, so a renewal on a node that does not serve it misses it too.
func (h *Hub) addOwnerRoom(owner, room string) {
	if ix := h.owners(); ix != nil {
		_ = ix.AddRoom(owner, room)
	}
}

// rebindIndexed is the shared part of Rebind: it hands old's members to
// new in each room of old's index entry that this node does not serve
// (served has those it does, each with whether new owns members there
// now), then moves the entry to new. Rooms where new owns no member after
// (left, dropped, never held) are left out of new's entry; served rooms
// missing from old's entry go first, their age unknown. A failure leaves
// old's entry in place for the web layer's next renewal.
func (h *Hub) rebindIndexed(ix OwnerIndex, old, new string, served map[string]bool) {
	for range maxStateConflicts + 1 {
		rooms, rev, err := ix.Rooms(old)
		if err != nil {
			return
		}
		var keep []string
		for name, owns := range served {
			if owns && !slices.Contains(rooms, name) {
				keep = append(keep, name)
			}
		}
		slices.Sort(keep)
		for _, room := range rooms {
			owns, done := served[room]
			if !done {
				owns = h.rebindRoom(room, old, new)
			}
			if owns {
				keep = append(keep, room)
			}
		}
		err = ix.Move(old, rev, new, keep)
		if !errors.Is(err, ErrConflict) {
			return
		}
	}
}

// rebindRoom hands old's members in a room this node may not serve to new,
// through the shared store: the nodes serving the room follow its state
// and adopt the change. It reports whether new has a member there after.
func (h *Hub) rebindRoom(room, old, new string) bool {
	s, _, err := UpdateState(h.state, room, func(s *RoomState) error {
		if !s.Live() || !swapOwner(s, old, new) {
			return ErrNoChange
		}
		return nil
	})
	return err == nil && s.Live() && ownsMember(&s, new)
}

// swapOwner gives old's members in s to new, and reports whether it found
// any.
func swapOwner(s *RoomState, old, new string) bool {
	changed := false
	for i := range s.Members {
		if s.Members[i].Owner == old {
			s.Members[i].Owner = new
			changed = true
		}
	}
	return changed
}

func ownsMember(s *RoomState, owner string) bool {
	return slices.ContainsFunc(s.Members, func(m StateMember) bool { return m.Owner == owner })
}
