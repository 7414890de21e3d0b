package chat

import "time"

// Config holds the limits and timings of a Hub. Zero fields take the defaults
// below.
type Config struct {
	History       int           // events kept per room
	MaxRooms      int           // rooms that may exist at once
	MaxMembers    int           // members one room may have
	MaxOwnNames   int           // members one browser may have in one room
	MaxReaders    int           // open streams, over all rooms
	AwayTimeout   time.Duration // a member away this long leaves the room
	PresenceGrace time.Duration // a member with no open stream this long is shown away
	// PresenceDebounce is how long a change of presence waits before readers
	// are sent the member list, so that a burst of changes is one update.
	PresenceDebounce time.Duration
	RoomIdle         time.Duration    // an empty room nobody reads is dropped after this
	Now              func() time.Time // the clock; tests set it
	// Log keeps the rooms' sealed events; nil is a MemoryLog keeping History
	// events per room.
	Log Log
	// State keeps the rooms' states (members, names, presence, lives);
	// nil is a new MemoryStateStore.
	State StateStore
	// Node names this node in the RoomState's Keep entries (with the run
	// of the Hub: see NodeRegistry) and in a NodeRegistry; "" is "node".
	// It is 1 to 64 of A-Z, a-z, 0-9, '-' and '_' (CheckNode), so that it
	// is one NATS key token. Nodes sharing a State must have distinct
	// names.
	Node string
	// Shared says that Log and State are shared with other nodes: this
	// node then follows each room it serves through Log.Watch and
	// StateStore.Watch, and publishes what it reads there (its own events
	// included), rather than what it appends.
	Shared bool
	// RepairGrace is how old a Pending transition must be before a node
	// that did not decide it appends it (see Repair).
	RepairGrace time.Duration
	// NodeTTL is how long a shared node whose State is a NodeRegistry may
	// go without a beat before the others take it for dead and stop
	// counting its streams (see Sweep); it beats every NodeTTL/4.
	NodeTTL time.Duration
}

// Defaults for Config.
const (
	DefaultHistory          = 1000
	DefaultMaxRooms         = 1000
	DefaultMaxMembers       = 200
	DefaultMaxOwnNames      = 8
	DefaultMaxReaders       = 10000
	DefaultAwayTimeout      = 15 * time.Minute
	DefaultPresenceGrace    = 5 * time.Second
	DefaultPresenceDebounce = 2 * time.Second
	DefaultRoomIdle         = 10 * time.Minute
	DefaultRepairGrace      = 10 * time.Second
	DefaultNodeTTL          = 8 * time.Second
	DefaultNode             = "node"
)

func (c Config) withDefaults() Config {
	if c.History <= 0 {
		c.History = DefaultHistory
	}
	if c.MaxRooms <= 0 {
		c.MaxRooms = DefaultMaxRooms
	}
	if c.MaxMembers <= 0 {
		c.MaxMembers = DefaultMaxMembers
	}
	if c.MaxOwnNames <= 0 {
		c.MaxOwnNames = DefaultMaxOwnNames
	}
	if c.MaxReaders <= 0 {
		c.MaxReaders = DefaultMaxReaders
	}
	if c.AwayTimeout <= 0 {
		c.AwayTimeout = DefaultAwayTimeout
	}
	if c.PresenceGrace <= 0 {
		c.PresenceGrace = DefaultPresenceGrace
	}
	if c.PresenceDebounce <= 0 {
		c.PresenceDebounce = DefaultPresenceDebounce
	}
	if c.RoomIdle <= 0 {
		c.RoomIdle = DefaultRoomIdle
	}
	if c.Log == nil {
		c.Log = NewMemoryLog(c.History)
	}
	if c.State == nil {
		c.State = NewMemoryStateStore()
	}
	if c.Node == "" {
		c.Node = DefaultNode
	}
	if c.RepairGrace <= 0 {
		c.RepairGrace = DefaultRepairGrace
	}
	if c.NodeTTL <= 0 {
		c.NodeTTL = DefaultNodeTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
