package crypto

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

const (
	// version is the first byte of every sealed record. A new record format
	// gets a new number, so old and new records cannot be confused.
	version = 1

	// headerSize is the version byte and the IV in front of the ciphertext.
	headerSize = 1 + blockSize

	// minRecordSize is the shortest record Seal makes: an empty plaintext
	// still pads to one block.
	minRecordSize = headerSize + blockSize + tagSize
)

// ErrOpen is the one error Open returns, whatever went wrong: a short or
// malformed record, an unknown version, a wrong tag or bad padding. Telling
// these apart would help an attacker who probes Open with forged records.
var ErrOpen = errors.New("crypto: message authentication failed")

var errMasterKeySize = errors.New("crypto: master key must be 32 bytes")

// Box seals and opens records with per-room keys derived from one master key.
// A Box is safe for concurrent use by multiple goroutines. It caches the
// derived state of every room it has seen, about a kilobyte each, until
// Forget is called for that room.
type Box struct {
	// prk is the HKDF pseudorandom key extracted from the master key. The
	// master key itself is not kept: every room key comes from prk.
	prk []byte

	mu    sync.RWMutex
	rooms map[string]*roomKeys

	sealFailures, openFailures atomic.Uint64 // see Stats
}

// Stats counts a Box's failures since it was made: records it could not
// seal (no randomness, a key that would not derive) and records that did
// not open (ErrOpen). Either is rare in a healthy server: an open failure
// means a record was altered, moved or sealed under another key.
type Stats struct {
	SealFailures uint64
	OpenFailures uint64
}

// Stats returns the Box's counts now.
func (b *Box) Stats() Stats {
	return Stats{SealFailures: b.sealFailures.Load(), OpenFailures: b.openFailures.Load()}
}

// NewKey returns a new 32-byte master key read from crypto/rand.
func NewKey() ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("crypto: read random key: %w", err)
	}
	return key, nil
}

// NewBox returns a Box that derives its room keys from masterKey, which must
// be 32 bytes. The Box keeps no reference to masterKey, only a key derived
// from it, so the caller may overwrite masterKey afterwards.
func NewBox(masterKey []byte) (*Box, error) {
	if len(masterKey) != keySize {
		return nil, errMasterKeySize
	}
	// No salt: the master key is already uniformly random, which is the case
	// where RFC 5869 allows leaving it out; the labels in the info separate
	// the keys.
	prk, err := hkdfExtract(masterKey, nil)
	if err != nil {
		return nil, fmt.Errorf("crypto: derive keys: %w", err)
	}
	return &Box{prk: prk, rooms: make(map[string]*roomKeys)}, nil
}

// Seal encrypts and authenticates plaintext for room and returns the record
// version ‖ IV ‖ ciphertext ‖ tag. The associated data ad is authenticated
// but not stored in the record: Open must be given the same ad, which lets a
// caller bind a record to its place (sequence number, sender, time) so that a
// copy of it elsewhere does not open.
func (b *Box) Seal(room string, plaintext, ad []byte) ([]byte, error) {
	k, err := b.keys(room)
	if err != nil {
		b.sealFailures.Add(1)
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	ctLen := paddedLen(len(plaintext))
	// One allocation of the exact size: the IV is read, the ciphertext
	// encrypted and the tag appended all in place.
	out := make([]byte, headerSize+ctLen, headerSize+ctLen+tagSize)
	out[0] = version
	iv := out[1:headerSize]
	if _, err := rand.Read(iv); err != nil {
		b.sealFailures.Add(1)
		return nil, fmt.Errorf("crypto: seal: read IV: %w", err)
	}
	body := out[headerSize:]
	copy(body, plaintext)
	pad(body, len(plaintext))
	encryptBlocks(k.block, iv, body, body)
	return k.tag(out, out, ad), nil
}

// Open checks and decrypts a record made by Seal for the same room and the
// same associated data, and returns the plaintext. Every failure returns
// ErrOpen. The tag is checked before anything is decrypted, so forged
// records never reach the CBC decryption or the padding check.
func (b *Box) Open(room string, record, ad []byte) ([]byte, error) {
	pt, err := b.open(room, record, ad)
	if err != nil {
		b.openFailures.Add(1)
	}
	return pt, err
}

func (b *Box) open(room string, record, ad []byte) ([]byte, error) {
	if len(record) < minRecordSize ||
		(len(record)-headerSize-tagSize)%blockSize != 0 ||
		record[0] != version {
		return nil, ErrOpen
	}
	k, err := b.keys(room)
	if err != nil {
		return nil, ErrOpen
	}
	body := record[:len(record)-tagSize]
	if !k.verify(body, ad, record[len(body):]) {
		return nil, ErrOpen
	}
	pt := make([]byte, len(body)-headerSize)
	decryptBlocks(k.block, body[1:headerSize], pt, body[headerSize:])
	n, ok := unpad(pt)
	if !ok {
		// Only a holder of the MAC key could get here; answer the same way.
		return nil, ErrOpen
	}
	return pt[:n], nil
}

// Forget drops the cached keys of room, for when the room is deleted. A later
// Seal or Open for the same room derives the same keys again.
func (b *Box) Forget(room string) {
	b.mu.Lock()
	delete(b.rooms, room)
	b.mu.Unlock()
}

// keys returns the cached keys of room, deriving them on first use. Two
// goroutines may derive the same room at once; the first to store wins and
// the other's copy is dropped, which is harmless since both are equal.
func (b *Box) keys(room string) (*roomKeys, error) {
	b.mu.RLock()
	k := b.rooms[room]
	b.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	k, err := newRoomKeys(b.prk, room)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if prev := b.rooms[room]; prev != nil {
		return prev, nil
	}
	b.rooms[room] = k
	return k, nil
}
