package chat

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"time"
)

// A RoomState is what every node serving a room must agree on to decide
// joins, names, posts, presence and announcements: the members with their
// names, look-alike keys, owners and bot token digests, who keeps them
// present, and the room's ids across its lives. With one node the Hub could
// keep it in memory; with several it lives in a StateStore and changes only
// by compare-and-set (UpdateState), so that of two nodes deciding at once
// exactly one decision stands, and only the node whose update won announces
// it.
//
// It is a plain value that encodes to JSON (the stores seal that). Its
// methods are pure decisions on it: they read no clock (the caller passes
// now) and touch no log. A zero RoomState is a room that has never lived,
// or none whose floor was kept.
//
// What is not in it: messages (the log holds them, and posts do not write
// the state: a post only needs the state to find its member), the open
// streams of one node (a node counts its own; the state only records which
// nodes keep a member present, Member.Keep), and the names offered back to
// a browser that left (Departed stays per node; it is a convenience).
type RoomState struct {
	// Base is the first event id of the room's current life, or 0 when it
	// has none (never made, or dropped: see Tombstone).
	Base uint64 `json:"base,omitempty"`
	// Newest is the newest event id the state has been told of (Observe),
	// at least Base-1 once the room lives. Posts do not move it: the log
	// knows the room's newest id; a node records it here before a drop so
	// that the tombstone's Floor covers it.
	Newest uint64 `json:"newest,omitempty"`
	// Floor is the greatest event id any earlier life of the room used: the
	// next life starts above it, so a reader holding an id of an earlier
	// life is reset, never shown another event under it.
	Floor uint64 `json:"floor,omitempty"`
	// LastMember is the greatest member id handed out in any life of the
	// room; kept by Tombstone like Floor, so member ids never repeat in a
	// room either.
	LastMember uint64 `json:"lastMember,omitempty"`
	// Members, ordered by id.
	Members []StateMember `json:"members,omitempty"`
	// Seq grows with every change of what the member list shows (a join, a
	// leave, a change of presence): readers are sent a list only when it is
	// newer than the last they were sent.
	Seq uint64 `json:"seq,omitempty"`
	// Touched is the time of the last join or leave (a node adds its own
	// knowledge of the last post when it decides whether the room is idle).
	Touched time.Time `json:"touched,omitzero"`
	// Pending are the joins and leaves decided here and not yet known to be
	// in the log, oldest first; see Pending and Repair.
	Pending []Pending `json:"pending,omitempty"`
	// LastTransition numbers the Pending entries of all lives.
	LastTransition uint64 `json:"lastTransition,omitempty"`
}

// A StateMember is one member of a room as the RoomState keeps it.
type StateMember struct {
	ID    uint64   `json:"id"`
	Owner string   `json:"owner"` // opaque; a browser's is an HMAC of its session, a bot's bearerOwner
	Name  string   `json:"name"`  // as shown
	Key   string   `json:"key"`   // Nickname's comparison key, which orders the list
	Looks []string `json:"looks"` // lookAlikes(Name, Key)
	// Token is the digest of the member's bearer secret, or zero for a
	// browser's member.
	Token Digest `json:"token,omitzero"`
	// Keep says which nodes have open streams that keep the member present,
	// and how: Online if one of that node's tabs showing it is visible,
	// Idle if all are hidden. A node with none has no entry.
	Keep  map[string]Presence `json:"keep,omitempty"`
	Shown Presence            `json:"shown"` // what the member list says
	// AwaySince is when the last node's streams closed (or the member
	// joined, or last posted, with no node keeping it).
	AwaySince time.Time `json:"awaySince,omitzero"`
}

// A Pending entry is a join or leave whose state update has won but whose
// event may not be in the log yet. The node that won appends the event and
// then removes the entry (Settle); if it crashes in between, another node
// appends it once it is older than a grace period (Repair). The event is
// appended under CID, a client id no client can send (see scopedClientID:
// those hold ':' where this holds '/'), so the log keeps it at most once
// however many nodes try: an append that finds the CID returns the record
// already there.
//
// The entry does not reserve an event id: posts append without writing the
// state, so the id an event takes is only known when the log accepts it.
type Pending struct {
	N      uint64    `json:"n"` // its place among the room's transitions (RoomState.LastTransition)
	Kind   Kind      `json:"kind"`
	Member uint64    `json:"member"`
	Name   string    `json:"name"`
	Time   time.Time `json:"time"` // when it was decided; the event's time
	CID    string    `json:"cid"`
}

// Event returns the event to append for p (its ID is for the appender to
// choose).
func (p Pending) Event() Event {
	return Event{Kind: p.Kind, Time: p.Time, Member: p.Member, Name: p.Name}
}

// StateLimits are the limits a RoomState enforces when seating a member.
// Because the decision is made on the shared state, they hold across every
// node serving the room. The Hub's other limits stay per node: MaxReaders
// (each node counts its own streams) and MaxRooms (a node counts the rooms
// it serves; a cluster-wide count would need a counter of its own in the
// store, which this seam does not have).
type StateLimits struct {
	MaxMembers  int // members the room may have
	MaxOwnNames int // members one owner may have in the room
}

// Live reports whether the room has a current life.
func (s *RoomState) Live() bool { return s.Base != 0 }

// Begin starts a life of the room, if it has none, at the later of the
// clock in microseconds (as a lone Hub does) and the ids it must stay
// above: the floor of earlier lives, and newest, the newest id the log
// holds for the room (0 if none). Member ids of the new life start above
// both too, so a tab holding a member id of an earlier life never finds
// another member under it. It reports whether a life began.
func (s *RoomState) Begin(now time.Time, newest uint64) bool {
	if s.Live() {
		return false
	}
	s.Base = max(uint64(now.UnixMicro()), s.Floor+1, newest+1)
	s.Newest = s.Base - 1
	s.LastMember = max(s.LastMember, s.Base-1)
	s.Touched = now
	return true
}

// Observe records that the room's log holds events up to id newest.
func (s *RoomState) Observe(newest uint64) { s.Newest = max(s.Newest, newest) }

// Tombstone returns the state a dropped room leaves: no life, no members,
// and what keeps ids of its next life above those of every earlier one
// (Floor, LastMember, LastTransition). Pending entries are kept: a drop
// does not cancel an announcement not yet made (a room is only dropped
// when it has no members, so they are leaves).
func (s RoomState) Tombstone() RoomState {
	floor := s.Floor
	if s.Live() {
		floor = max(floor, s.Newest, s.Base-1)
	}
	return RoomState{
		Floor:          floor,
		LastMember:     s.LastMember,
		LastTransition: s.LastTransition,
		Pending:        slices.Clone(s.Pending),
	}
}

// Seat adds a member named name, owned by owner, to the room, beginning a
// life if it has none (Begin with no log newest), and records its join as
// Pending. token is the digest of the member's bearer secret, or zero for
// a browser. The errors are Nickname's, ErrNameTaken when any look-alike
// key of name is a current member's, ErrRoomFull, ErrTooManyNames, and
// errBearerInUse when a member of the room already has token.
func (s *RoomState) Seat(owner, name string, token Digest, now time.Time, lim StateLimits) (StateMember, error) {
	display, key, err := Nickname(name)
	if err != nil {
		return StateMember{}, err
	}
	looks := lookAlikes(display, key)
	for _, m := range s.Members {
		for _, k := range m.Looks {
			if slices.Contains(looks, k) {
				return StateMember{}, ErrNameTaken
			}
		}
	}
	if token != (Digest{}) {
		if _, ok := s.ByToken(token); ok {
			return StateMember{}, errBearerInUse
		}
	}
	if len(s.Members) >= lim.MaxMembers {
		return StateMember{}, ErrRoomFull
	}
	own := 0
	for _, m := range s.Members {
		if m.Owner == owner {
			own++
		}
	}
	if own >= lim.MaxOwnNames {
		return StateMember{}, ErrTooManyNames
	}
	s.Begin(now, 0)
	s.LastMember++
	m := StateMember{
		ID: s.LastMember, Owner: owner, Name: display, Key: key, Looks: looks, Token: token,
		// A new member is about to open the room page; count them online
		// until the grace period passes without a stream (as a lone Hub does).
		Shown: Online, AwaySince: now,
	}
	s.Members = append(s.Members, m) // ids only grow, so the order holds
	s.Seq++
	s.Touched = now
	s.pend(KindJoin, m, now)
	return m, nil
}

// pend records a transition of m as Pending.
func (s *RoomState) pend(kind Kind, m StateMember, now time.Time) {
	s.LastTransition++
	word := "join"
	if kind == KindLeave {
		word = "leave"
	}
	s.Pending = append(s.Pending, Pending{
		N: s.LastTransition, Kind: kind, Member: m.ID, Name: m.Name, Time: now,
		CID: strconv.FormatUint(m.ID, 10) + "/" + word,
	})
}

// Find returns the owner's member with the given id, or, for id 0, the
// owner's most recent member in the room.
func (s *RoomState) Find(owner string, id uint64) (StateMember, bool) {
	for i := len(s.Members) - 1; i >= 0; i-- {
		if m := s.Members[i]; m.Owner == owner && (id == 0 || m.ID == id) {
			return m, true
		}
	}
	return StateMember{}, false
}

// ByToken returns the member whose bearer secret has digest d.
func (s *RoomState) ByToken(d Digest) (StateMember, bool) {
	if d == (Digest{}) {
		return StateMember{}, false
	}
	i := slices.IndexFunc(s.Members, func(m StateMember) bool { return m.Token == d })
	if i < 0 {
		return StateMember{}, false
	}
	return s.Members[i], true
}

// Leave removes the owner's member (0: the owner's latest) and records its
// leave as Pending. The error is ErrNotMember if there is no such member.
func (s *RoomState) Leave(owner string, id uint64, now time.Time) (StateMember, error) {
	m, ok := s.Find(owner, id)
	if !ok {
		return StateMember{}, ErrNotMember
	}
	s.remove(m, now)
	return m, nil
}

func (s *RoomState) remove(m StateMember, now time.Time) {
	s.Members = slices.DeleteFunc(s.Members, func(x StateMember) bool { return x.ID == m.ID })
	s.Seq++
	s.Touched = now
	s.pend(KindLeave, m, now)
}

// index returns the place of member id in s.Members, or -1.
func (s *RoomState) index(id uint64) int {
	return slices.IndexFunc(s.Members, func(m StateMember) bool { return m.ID == id })
}

// Keep records how node's open streams keep member id present: Online or
// Idle, or Away when the node has no stream for it any more (the member's
// AwaySince is then now, if no other node keeps it). What the list shows
// changes only through Refresh, so that a tab handing its stream to another
// does not flicker. It reports whether the state changed, so that a caller
// can skip a write that would change nothing; an unknown member (it left
// meanwhile) changes nothing.
func (s *RoomState) Keep(id uint64, node string, p Presence, now time.Time) bool {
	i := s.index(id)
	if i < 0 {
		return false
	}
	m := &s.Members[i]
	if old, ok := m.Keep[node]; p == Away && !ok || p != Away && ok && old == p {
		return false
	}
	if p == Away {
		m.Keep = maps.Clone(m.Keep)
		delete(m.Keep, node)
		if len(m.Keep) == 0 {
			m.Keep = nil
			m.AwaySince = now
		}
		return true
	}
	m.Keep = maps.Clone(m.Keep)
	if m.Keep == nil {
		m.Keep = make(map[string]Presence)
	}
	m.Keep[node] = p
	return true
}

// Posted notes that member id posted at now, which counts as being present
// for a member no node keeps. It reports whether the state changed.
func (s *RoomState) Posted(id uint64, now time.Time) bool {
	i := s.index(id)
	if i < 0 || len(s.Members[i].Keep) > 0 {
		return false
	}
	s.Members[i].AwaySince = now
	return true
}

// ForgetNode removes every Keep entry of node, as if all its streams had
// closed at now: for a node known to be gone (it crashed, or shut down
// without closing its streams). It reports whether the state changed.
func (s *RoomState) ForgetNode(node string, now time.Time) bool {
	changed := false
	for i := range s.Members {
		if _, ok := s.Members[i].Keep[node]; ok {
			s.Keep(s.Members[i].ID, node, Away, now)
			changed = true
		}
	}
	return changed
}

// Keepers returns the nodes (Keep keys) that keep some member present,
// sorted, for a node to check against the nodes alive (NodeRegistry).
func (s *RoomState) Keepers() []string {
	var nodes []string
	for _, m := range s.Members {
		for node := range m.Keep {
			if !slices.Contains(nodes, node) {
				nodes = append(nodes, node)
			}
		}
	}
	slices.Sort(nodes)
	return nodes
}

// KeepAs makes node's Keep entries exactly want (member id → Online or
// Idle; a member not in it gets none), as Keep would one by one, for the
// members the room has. A node calls it to write back what its own
// streams say when the state says otherwise: another node took it for
// dead and forgot it (ForgetNode), or an update of its own failed. It
// reports whether the state changed.
func (s *RoomState) KeepAs(node string, want map[uint64]Presence, now time.Time) bool {
	changed := false
	for _, m := range slices.Clone(s.Members) {
		if s.Keep(m.ID, node, want[m.ID], now) {
			changed = true
		}
	}
	return changed
}

// KeptAs reports whether node's Keep entries are already what KeepAs
// would make them, without changing anything.
func (s *RoomState) KeptAs(node string, want map[uint64]Presence) bool {
	for _, m := range s.Members {
		if p, ok := m.Keep[node]; p != want[m.ID] || ok != (want[m.ID] != Away) {
			return false
		}
	}
	return true
}

// Refresh brings what the member list shows up to date: Online when a node
// shows the member in a visible tab, Idle when nodes keep it only in hidden
// ones, Away once no node has kept it for grace. It reports whether the
// list changed (and then Seq grew).
func (s *RoomState) Refresh(now time.Time, grace time.Duration) bool {
	changed := false
	for i := range s.Members {
		m := &s.Members[i]
		state := m.Shown
		switch {
		case slices.Contains(slices.Collect(maps.Values(m.Keep)), Online):
			state = Online
		case len(m.Keep) > 0:
			state = Idle
		case now.Sub(m.AwaySince) >= grace:
			state = Away
		}
		if state != m.Shown {
			m.Shown = state
			changed = true
		}
	}
	if changed {
		s.Seq++
	}
	return changed
}

// Expire removes the members no node has kept for awayTimeout or longer
// (each with a Pending leave), then Refreshes the rest. It returns the
// members removed, and whether the state changed at all.
func (s *RoomState) Expire(now time.Time, grace, awayTimeout time.Duration) (removed []StateMember, changed bool) {
	for _, m := range slices.Clone(s.Members) {
		if len(m.Keep) == 0 && now.Sub(m.AwaySince) >= awayTimeout {
			s.remove(m, now)
			removed = append(removed, m)
		}
	}
	changed = s.Refresh(now, grace) || len(removed) > 0
	return removed, changed
}

// List returns the members as the member list shows them: ordered by their
// names' comparison keys, then by id.
func (s *RoomState) List() []Member {
	ms := slices.Clone(s.Members)
	slices.SortFunc(ms, func(a, b StateMember) int { return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID)) })
	list := make([]Member, len(ms))
	for i, m := range ms {
		list[i] = Member{ID: m.ID, Name: m.Name, State: m.Shown}
	}
	return list
}

// Idle reports whether the room can be dropped, as far as the state knows:
// it lives, has no members, and no join or leave happened for after. The
// caller also checks its own last post.
func (s *RoomState) Idle(now time.Time, after time.Duration) bool {
	return s.Live() && len(s.Members) == 0 && now.Sub(s.Touched) >= after
}

// Settle removes the Pending entry numbered n, once its event is in the log.
// It reports whether there was one, so a node that lost the race to settle
// it writes nothing.
func (s *RoomState) Settle(n uint64) bool {
	i := slices.IndexFunc(s.Pending, func(p Pending) bool { return p.N == n })
	if i < 0 {
		return false
	}
	s.Pending = slices.Delete(slices.Clone(s.Pending), i, i+1)
	return true
}

// Repair returns the Pending entries another node should append for the
// node that decided them: those decided at least after ago (younger ones
// are left to their own node, which is most likely appending them now), in
// the order they were decided. Once one entry is due, every later one of
// the same member is returned after it as well, so that a join is never
// announced after a leave that followed it. The appender appends each in
// turn under its CID (which makes a repeat a no-op) and Settles it.
func Repair(pending []Pending, now time.Time, after time.Duration) []Pending {
	ordered := slices.Clone(pending)
	slices.SortFunc(ordered, func(a, b Pending) int { return cmp.Compare(a.N, b.N) })
	var due []Pending
	held := make(map[uint64]bool) // members with an entry left waiting
	for _, p := range ordered {
		if now.Sub(p.Time) >= after && !held[p.Member] {
			due = append(due, p)
			continue
		}
		held[p.Member] = true
	}
	return due
}
