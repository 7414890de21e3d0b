package crypto

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
)

const (
	// version is the first byte of every sealed record. A new record format
	// gets a new number, so old and new records cannot be confused.
	//
	// Version 2 added the key id. Open refuses version 1: such records were
	// only ever kept in the memory of the process that sealed them, under a
	// random key that died with it, so no version 1 record can reach a Box
	// that could open it, and code that opened them would never run.
	version = 2

	// headerSize is the version byte, the key id and the IV in front of the
	// ciphertext.
	headerSize = 1 + keyIDSize + blockSize

	// minRecordSize is the shortest record Seal makes: an empty plaintext
	// still pads to one block.
	minRecordSize = headerSize + blockSize + tagSize
)

// ErrOpen is the one error Open returns, whatever went wrong: a short or
// malformed record, an unknown version or key id, a wrong tag or bad
// padding. Telling these apart would help an attacker who probes Open with
// forged records.
var ErrOpen = errors.New("crypto: message authentication failed")

// ErrSameKey is returned by NewBox when two of its keys have the same key
// id, which in practice means the same key was given twice.
var ErrSameKey = errors.New("crypto: the same master key given twice")

var errMasterKeySize = errors.New("crypto: master key must be 32 bytes")

// Box seals and opens records with per-room keys derived from master keys:
// it seals under its current key and opens records sealed under that key or
// any of its older ones, which lets an operator rotate the master key while
// records sealed under the old one are still kept. A Box is safe for
// concurrent use by multiple goroutines. It caches the derived state of every
// room it has seen, about a kilobyte per room and key, until Forget is called
// for that room.
type Box struct {
	// keys[0] is the current key, which seals; the others only open. There
	// are a handful at most, so Open looks a record's key id up by scanning
	// them, which costs less than hashing it for a map.
	keys []*masterKey
	// tokenKey is the current key's HMAC key for Token.
	tokenKey []byte

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

// NewBox returns a Box that seals under current and opens records sealed
// under current or any of old. Every key must be 32 bytes, and no two may
// have the same key id (ErrSameKey), which in practice happens only when one
// key is given twice. The Box keeps no reference to the keys, only keys derived from
// them, so the caller may overwrite them afterwards.
func NewBox(current []byte, old ...[]byte) (*Box, error) {
	b := &Box{keys: make([]*masterKey, 0, 1+len(old))}
	for i, secret := range append([][]byte{current}, old...) {
		if len(secret) != keySize {
			if i == 0 {
				return nil, errMasterKeySize
			}
			return nil, fmt.Errorf("crypto: old master key %d: %w", i, errMasterKeySize)
		}
		k, err := newMasterKey(secret)
		if err != nil {
			return nil, fmt.Errorf("crypto: derive keys: %w", err)
		}
		if b.key(k.id[:]) != nil {
			return nil, ErrSameKey
		}
		b.keys = append(b.keys, k)
	}
	tk, err := hkdfExpand(b.keys[0].prk, tokenLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("crypto: derive keys: %w", err)
	}
	b.tokenKey = tk
	return b, nil
}

// KeyID returns the id of the current key in hex (16 digits), the id that
// Seal writes into every record. It is safe to log: it says which key is in
// use and nothing about the key itself.
func (b *Box) KeyID() string { return b.keys[0].String() }

// Seal encrypts and authenticates plaintext for room under the current key
// and returns the record version ‖ key id ‖ IV ‖ ciphertext ‖ tag. The
// associated data ad is authenticated but not stored in the record: Open
// must be given the same ad, which lets a caller bind a record to its place
// (sequence number, sender, time) so that a copy of it elsewhere does not
// open.
func (b *Box) Seal(room string, plaintext, ad []byte) ([]byte, error) {
	mk := b.keys[0]
	k, err := mk.room(room)
	if err != nil {
		b.sealFailures.Add(1)
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	ctLen := paddedLen(len(plaintext))
	// One allocation of the exact size: the IV is read, the ciphertext
	// encrypted and the tag appended all in place.
	out := make([]byte, headerSize+ctLen, headerSize+ctLen+tagSize)
	out[0] = version
	copy(out[1:], mk.id[:])
	iv := out[1+keyIDSize : headerSize]
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
// same associated data, under any key the Box knows, and returns the
// plaintext. Every failure returns ErrOpen, a record under a key the Box
// does not know included. The tag is checked before anything is decrypted,
// so forged records never reach the CBC decryption or the padding check.
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
	// An unknown id is refused sooner than a bad tag; that tells an
	// attacker only which key ids the Box knows, which every record it
	// seals shows anyway.
	mk := b.key(record[1 : 1+keyIDSize])
	if mk == nil {
		return nil, ErrOpen
	}
	k, err := mk.room(room)
	if err != nil {
		return nil, ErrOpen
	}
	body := record[:len(record)-tagSize]
	if !k.verify(body, ad, record[len(body):]) {
		return nil, ErrOpen
	}
	pt := make([]byte, len(body)-headerSize)
	decryptBlocks(k.block, body[1+keyIDSize:headerSize], pt, body[headerSize:])
	n, ok := unpad(pt)
	if !ok {
		// Only a holder of the MAC key could get here; answer the same way.
		return nil, ErrOpen
	}
	return pt[:n], nil
}

// key returns the key whose id is id, or nil if the Box knows none.
func (b *Box) key(id []byte) *masterKey {
	for _, k := range b.keys {
		if bytes.Equal(k.id[:], id) {
			return k
		}
	}
	return nil
}

// Forget drops the cached keys of room, for when the room is deleted. A later
// Seal or Open for the same room derives the same keys again.
func (b *Box) Forget(room string) {
	for _, k := range b.keys {
		k.forget(room)
	}
}
