package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A Revision is a StateStore's version of one room's state: 0 for a room
// the store has never held, then a number that grows with every write.
type Revision uint64

// A StateStore keeps each room's RoomState for all the nodes serving it,
// and changes it only by compare-and-set: an update names the revision it
// was decided on, and loses (ErrConflict, nothing written) if another
// writer got there first. MemoryStateStore serves one node; a store shared
// by several (natsstate) must keep the same contract, which
// chattest.TestStateStore checks.
//
// Why this shape: a whole-state value per room under one revision makes
// every decision (a name against all look-alike keys, a limit against all
// members) one atomic step, which a key per member could not without
// transactions; rooms are small (MaxMembers) so the value stays small.
// Watch is per room because a store shared by nodes keeps rooms under a
// token, never the name, and seals each state with the room's own key: a
// watcher must know the room to open what it is sent, and a node only
// follows the rooms it serves.
type StateStore interface {
	// Load returns the room's state and its revision. A room the store has
	// never held is the zero RoomState at revision 0; a dropped one is its
	// Tombstone at a revision above 0.
	Load(room string) (RoomState, Revision, error)
	// Update stores s as the room's state if its revision is still expect
	// (0: the store holds none), and returns the new revision. Otherwise
	// nothing is written and the error is ErrConflict
	// (the Log's error, with the same meaning: another writer won).
	Update(room string, expect Revision, s RoomState) (Revision, error)
	// Delete replaces the room's state with its Tombstone if its revision is
	// still expect, else ErrConflict. The caller makes sure the state has
	// Observed the log's newest id first, so the floor covers it.
	// Deleting a room the store has never held (expect 0) stores nothing
	// and returns revision 0.
	Delete(room string, expect Revision) (Revision, error)
	// Watch calls fn with the room's state and revision as they are now,
	// then after each change by any writer, until ctx ends (ctx.Err()) or
	// fn fails (fn's error). Several quick changes may be passed as the
	// last of them only. Revisions passed to fn grow, unless the store
	// lost the room's state (a NATS restart with memory storage, an
	// operator's purge): then fn is passed the zero state at revision 0,
	// or the state the room began again with, at a revision that may be
	// lower than the last; either means the room starts over.
	Watch(ctx context.Context, room string, fn func(RoomState, Revision) error) error
}

// maxStateConflicts bounds how often UpdateState decides again because
// another writer changed the state first.
const maxStateConflicts = 16

// ErrStateBusy is UpdateState's error when other writers kept changing a
// room's state: the web layer answers 503, and the client may try again.
var ErrStateBusy = errors.New("chat: the room's state kept changing under other servers' updates; try again")

// ErrNoChange, returned by an UpdateState function, tells UpdateState the
// function changed nothing, so nothing is written.
var ErrNoChange = errors.New("chat: the room's state is unchanged")

// UpdateState loads the room's state, applies fn to it and stores the
// result by compare-and-set, deciding again on the newer state each time
// another writer won, at most maxStateConflicts+1 times in all, waiting
// ConflictBackoff before each retry but the first (then ErrStateBusy). If fn fails, nothing is written and its error returned,
// except ErrNoChange, which returns the state as loaded with no error. It
// returns the state as stored and its revision.
func UpdateState(store StateStore, room string, fn func(*RoomState) error) (RoomState, Revision, error) {
	for tries := range maxStateConflicts + 1 {
		if tries > 1 { // the first retry at once, on the state just loaded
			time.Sleep(ConflictBackoff(tries - 1))
		}
		s, rev, err := store.Load(room)
		if err != nil {
			return RoomState{}, 0, err
		}
		if err := fn(&s); errors.Is(err, ErrNoChange) {
			return s, rev, nil
		} else if err != nil {
			return RoomState{}, 0, err
		}
		rev, err = store.Update(room, rev, s)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return RoomState{}, 0, err
		}
		return s, rev, nil
	}
	return RoomState{}, 0, ErrStateBusy
}

// A NodeRegistry is a StateStore that also knows which nodes are alive, so
// that the nodes sharing it can tell a node that crashed (and never said
// ForgetNode, as Hub.Close does) from one whose members are still present.
// A shared Hub (Config.Shared) whose State is one beats every
// Config.NodeTTL/4 from Sweep, and removes the Keep entries of nodes that
// have not beaten for Config.NodeTTL from the rooms it serves; their
// members then go the usual way: shown away after the grace, and leave
// after the AwayTimeout.
//
// node, in both methods, is a Keep key: a node's name (Config.Node, see
// CheckNode) and, after a '/', the run of its Hub (random, drawn when the
// Hub was made). A registry keeps the newest run per name, so a node that
// crashed and came back under its name at once does not keep its former
// run's members present.
type NodeRegistry interface {
	// Beat records that node is alive. now is the Hub's clock; a
	// registry with a clock of its own (natsstate uses the NATS server's)
	// may go by that instead, so that nodes' clocks need not agree. A name
	// that CheckNode refuses is an error that wraps ErrNodeName.
	Beat(node string, now time.Time) error
	// Alive returns the nodes that beat within ttl (keyed by what they
	// passed to Beat), as of now, or as of the registry's own clock. known
	// is false when the registry cannot tell yet (it has not read the beats
	// since it began): the caller must then take no node for dead.
	Alive(now time.Time, ttl time.Duration) (alive map[string]bool, known bool, err error)
}

// ErrNodeName is the error of a node name that CheckNode refuses.
var ErrNodeName = errors.New("chat: a node's name is 1 to 64 of A-Z, a-z, 0-9, '-' and '_'")

// CheckNode returns an error wrapping ErrNodeName unless name is a valid
// Config.Node: 1 to 64 of A-Z, a-z, 0-9, '-' and '_', so that it is one
// token of a NATS key or subject and never holds the '/' of a Keep key.
func CheckNode(name string) error {
	if len(name) == 0 || len(name) > 64 || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return fmt.Errorf("%w: %q", ErrNodeName, name)
	}
	return nil
}

// SplitNode splits a NodeRegistry's node, name/run, into the node's name
// and its run; an error wraps ErrNodeName unless both are what CheckNode
// takes.
func SplitNode(node string) (name, run string, err error) {
	name, run, ok := strings.Cut(node, "/")
	if err := CheckNode(name); err != nil {
		return "", "", err
	}
	if !ok || CheckNode(run) != nil {
		return "", "", fmt.Errorf("%w: %q has no run after its name", ErrNodeName, node)
	}
	return name, run, nil
}
