package crypto

import (
	"encoding/hex"
	"sync"
)

// keyIDSize is the length of the key id in every record's header.
//
// Eight bytes rather than four: the id only has to tell apart the few keys
// one Box holds, and four bytes would already make two of them share an id
// with odds of about one in four billion per pair. But records outlive
// processes once they are stored (the NATS store of issue 10), so ids of
// every key a deployment rotated through meet there for as long as their
// records live, and a shared id makes NewBox refuse a perfectly good key
// pair. Eight bytes put that out of reach for any number of rotations, for
// four bytes more per record (the shortest record is 73 bytes).
const keyIDSize = 8

// masterKey is one master key a Box knows: its id, the HKDF pseudorandom key
// extracted from it, and the derived state of every room seen under it.
type masterKey struct {
	id [keyIDSize]byte

	// prk is the HKDF pseudorandom key extracted from the master key. The
	// master key itself is not kept: the id and every room key come from prk.
	prk []byte

	mu    sync.RWMutex
	rooms map[string]*roomKeys
}

// newMasterKey extracts the pseudorandom key of secret, a 32-byte master
// key, and derives its id. It keeps no reference to secret.
func newMasterKey(secret []byte) (*masterKey, error) {
	// No salt: the master key is already uniformly random, which is the case
	// where RFC 5869 allows leaving it out; the labels in the info separate
	// the keys.
	prk, err := hkdfExtract(secret, nil)
	if err != nil {
		return nil, err
	}
	id, err := hkdfExpand(prk, keyIDLabel, keyIDSize)
	if err != nil {
		return nil, err
	}
	return &masterKey{id: [keyIDSize]byte(id), prk: prk, rooms: make(map[string]*roomKeys)}, nil
}

// String returns the key id in hex, which is safe to show: it is in the
// header of every record, and tells nothing about the key (see keyIDLabel).
func (k *masterKey) String() string { return hex.EncodeToString(k.id[:]) }

// room returns the cached keys of room, deriving them on first use. Two
// goroutines may derive the same room at once; the first to store wins and
// the other's copy is dropped, which is harmless since both are equal.
func (k *masterKey) room(room string) (*roomKeys, error) {
	k.mu.RLock()
	rk := k.rooms[room]
	k.mu.RUnlock()
	if rk != nil {
		return rk, nil
	}
	rk, err := newRoomKeys(k.prk, room)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if prev := k.rooms[room]; prev != nil {
		return prev, nil
	}
	k.rooms[room] = rk
	return rk, nil
}

// forget drops the cached keys of room.
func (k *masterKey) forget(room string) {
	k.mu.Lock()
	delete(k.rooms, room)
	k.mu.Unlock()
}
