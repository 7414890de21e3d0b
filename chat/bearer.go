package chat

import (
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// A Digest is what the hub keeps of a bearer secret: its SHA-256, computed by
// the caller. The hub never sees the secret, so nothing it holds (or a dump
// of its memory) lets anyone act as the member.
type Digest [32]byte

// A Holder is the member a bearer secret acts as: its owner (to pass to Post,
// Leave and Attach), its room and its id.
type Holder struct {
	Owner  string
	Room   string
	Member uint64
}

// bearerPrefix marks the owners of members joined with a bearer secret. A
// browser's owner never has it (the web layer's session ids are hex), so no
// session can be renewed into, or collide with, a bearer's member.
const bearerPrefix = "bearer:"

var errBearerInUse = errors.New("chat: that bearer secret is already in use")

func bearerOwner(d Digest) string { return bearerPrefix + hex.EncodeToString(d[:]) }

// JoinBearer is Join for a client that authenticates with a secret rather
// than a browser session: the member belongs to the secret whose digest is
// d, and Bearer finds it until it leaves, is removed for staying away, or its
// room goes. d must be the digest of a fresh random secret; one already in
// use is refused (errBearerInUse) rather than shared by two members.
func (h *Hub) JoinBearer(d Digest, roomName, name string) (Member, error) {
	h.bearerMu.Lock()
	_, used := h.bearers[d]
	h.bearerMu.Unlock()
	if used {
		return Member{}, errBearerInUse
	}
	return h.join(bearerOwner(d), roomName, name, d)
}

// Bearer returns the member whose secret has digest d, or false when there is
// none: never issued, or its member is gone.
func (h *Hub) Bearer(d Digest) (Holder, bool) {
	h.bearerMu.Lock()
	defer h.bearerMu.Unlock()
	hd, ok := h.bearers[d]
	return hd, ok
}

// BearerIn is Bearer for a request on a room: with a shared store (several
// nodes), a member joined with its secret on another node is not in this
// node's index, so it is looked for in the room's state (RoomState.ByToken,
// the store read again on a miss). Every request of a bearer names its
// room, so no cluster-wide token index is needed: a secret of another
// room's member that this node did not seat is then simply not found here.
// The error is the store's, when it could not be read (ErrUnavailable):
// the secret may well be good.
func (h *Hub) BearerIn(roomName string, d Digest) (Holder, bool, error) {
	if hd, ok := h.Bearer(d); ok || !h.cfg.Shared {
		return hd, ok, nil
	}
	var hd Holder
	var found bool
	err := h.withRoom(roomName, false, func(r *room, now time.Time) error {
		m, ok := r.state.ByToken(d)
		if !ok {
			if err := r.reload(h, now); err != nil {
				return err
			}
			m, ok = r.state.ByToken(d)
		}
		if ok {
			hd, found = Holder{Owner: m.Owner, Room: r.name, Member: m.ID}, true
		}
		return nil
	})
	if errors.Is(err, ErrNoRoom) || errors.Is(err, ErrInvalidRoom) {
		err = nil // no such room holds the secret
	}
	return hd, found, err
}

// forgetBearer drops the secret of a member that is gone, so the secret dies
// with it. It reports whether the owner was a bearer's.
func (h *Hub) forgetBearer(owner string) bool {
	s, ok := strings.CutPrefix(owner, bearerPrefix)
	if !ok {
		return false
	}
	var d Digest
	if _, err := hex.Decode(d[:], []byte(s)); err == nil {
		h.bearerMu.Lock()
		delete(h.bearers, d)
		h.bearerMu.Unlock()
	}
	return true
}

// bearerCount returns how many bearer secrets are live, for tests.
func (h *Hub) bearerCount() int {
	h.bearerMu.Lock()
	defer h.bearerMu.Unlock()
	return len(h.bearers)
}
