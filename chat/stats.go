package chat

import "sync/atomic"

// Stats is a snapshot of a Hub's activity, for monitoring. The counts are
// since the Hub was made; they only grow.
type Stats struct {
	Rooms   int // rooms that exist now
	Members int // members over all rooms now
	Streams int // open streams (Attach) over all rooms now

	Joins uint64 // members that joined a room
	Posts uint64 // messages appended (a post sent again under its client id is not counted twice)

	// BacklogEvents is how many events were opened from history for
	// readers catching up as they connect (Backlog.Events), and
	// BacklogResets how many backlogs began with a reset.
	BacklogEvents uint64
	BacklogResets uint64

	// Requests refused by a limit of Config: MaxReaders, MaxRooms,
	// MaxMembers and MaxOwnNames.
	RefusedStreams  uint64
	RefusedRooms    uint64
	RefusedMembers  uint64
	RefusedOwnNames uint64
}

// counters are a Hub's Stats counts. Each is one atomic add where the event
// happens, never under a lock of its own.
type counters struct {
	members                       atomic.Int64
	joins, posts                  atomic.Uint64
	backlogEvents, backlogResets  atomic.Uint64
	refusedStreams, refusedRooms  atomic.Uint64
	refusedMembers, refusedOwners atomic.Uint64
}

// Stats returns the hub's counts now. It takes the hub's lock only to
// count the rooms.
func (h *Hub) Stats() Stats {
	c := &h.counts
	return Stats{
		Rooms:           h.Rooms(),
		Members:         int(c.members.Load()),
		Streams:         int(h.readers.Load()),
		Joins:           c.joins.Load(),
		Posts:           c.posts.Load(),
		BacklogEvents:   c.backlogEvents.Load(),
		BacklogResets:   c.backlogResets.Load(),
		RefusedStreams:  c.refusedStreams.Load(),
		RefusedRooms:    c.refusedRooms.Load(),
		RefusedMembers:  c.refusedMembers.Load(),
		RefusedOwnNames: c.refusedOwners.Load(),
	}
}
