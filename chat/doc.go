// Package chat is Cloakroom's domain: rooms, their members and presence, and
// each room's history of events, kept only as sealed records.
//
// A Hub owns every room. Each event of a room (a message, a join, a leave, a
// change of presence) takes the room's next id and is sealed with the room's
// key before it is stored; plaintext exists only while an event is handed to
// the publish function or read back for a page. The package knows nothing of
// HTTP: callers identify a browser by an opaque owner string (the session
// cookie's value, in the web server), or a bot by the SHA-256 of its bearer
// secret (JoinBearer, Bearer), and receive events through the function given
// to NewHub.
//
// # Several nodes
//
// A Hub decides joins, leaves, names and presence on a RoomState in a
// StateStore (Config.State), by compare-and-set (UpdateState), and appends
// events to a Log with the id it expects to follow; a MemoryLog and a
// MemoryStateStore serve a lone node. Hubs on several nodes sharing one Log
// and one StateStore (Config.Shared, each with its own Config.Node) are one
// chat: a transition is announced by the node whose state update won,
// under the Pending entry's client id, then Settled; a node that finds
// another's entry older than Config.RepairGrace appends it for it, once
// (the log's client-id check). A post only reads the state, from the
// node's copy of it, and records presence at the node's next Sweep.
//
// A shared node publishes each room's events as it reads them from the log
// (Log.Watch), its own included, and keeps its copy of the state from the
// store's Watch (StateStore.Watch). Which limits hold per node and which
// across the cluster: see StateLimits.
//
// A browser's session renewal (Rebind) may happen on a node that serves
// none of its other rooms. A shared node whose StateStore is also an
// OwnerIndex records each browser join under its owner, and Rebind hands
// the old owner's members to the new one in every room of that entry
// through the store (the nodes serving them adopt the change as they
// follow the state), then moves the entry. Without an index, Rebind
// reaches the rooms this node serves only; past MaxOwnerRooms, the oldest
// rooms of an entry are forgotten (see MaxOwnerRooms). The names a browser
// left behind (Departed) stay on the node where it left.
//
// # Nodes that crash
//
// A member is present while some node keeps a stream of theirs open: the
// RoomState records it per node (StateMember.Keep), keyed by the node's
// name (Config.Node, which CheckNode keeps to 1–64 of A-Z, a-z, 0-9, '-'
// and '_') and the run of its Hub (random, per start). A node that shuts
// down cleanly (Hub.Close) removes its entries; one that crashes cannot.
// So when the StateStore is a NodeRegistry (MemoryStateStore, natsstate),
// each shared node beats every Config.NodeTTL/4 from Sweep, and removes,
// from the rooms it serves, the entries of nodes that have not beaten for
// Config.NodeTTL (8 s by default): their members then go the usual way,
// shown away after PresenceGrace and leaving after AwayTimeout, announced
// once by the node whose update wins. A node takes no other for dead
// before it has beaten for a TTL itself (it may not have heard their
// beats yet), nor while its own beats fail (it is more likely the one cut
// off). A node that was taken for dead though alive (it could not reach
// the store for a TTL) writes its entries back at its next Sweep that
// reaches the store: its members were shown away meanwhile, at worst, and
// leave only if it stayed cut off for AwayTimeout, as a crashed node's
// would. A node that comes back under its name is a
// new run: its former run's entries are removed like a crashed node's.
package chat
