package crypto

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
)

// tagSize is the length of the HMAC-SHA-256 tag; it is never truncated.
const tagSize = sha256.Size

// roomKeys is the derived state of one room, kept so that sealing a message
// costs no key schedule and no HKDF. It is shared between goroutines: block
// is safe for concurrent use, and each goroutine takes its own MAC from macs.
type roomKeys struct {
	block cipher.Block
	// macs holds *macState values. An HMAC keeps running state, so it cannot
	// be shared; hmac.New for every record would cost allocations and two
	// extra SHA-256 blocks of key setup, while a pooled one is only Reset.
	macs sync.Pool
}

// macState is one pooled HMAC together with the scratch space a record's tag
// needs. Keeping hdr and sum here rather than on the stack matters: a slice
// handed to hash.Hash, an interface, escapes and would be heap-allocated on
// every call.
type macState struct {
	mac hash.Hash
	hdr [1 + keyIDSize + 8]byte // version ‖ key id ‖ len(ad)
	sum [tagSize]byte
}

// newMAC returns the HMAC-SHA-256 that Box uses for tags. The vector tests
// call it too, so they check the MAC exactly as it is built here.
func newMAC(key []byte) hash.Hash {
	return hmac.New(sha256.New, key)
}

// newRoomKeys derives the keys of room from the Box's pseudorandom key and
// prepares the cipher and the MAC pool.
func newRoomKeys(prk []byte, room string) (*roomKeys, error) {
	encKey, macKey, err := deriveRoomKeys(prk, room)
	if err != nil {
		return nil, err
	}
	block, err := newAES256(encKey)
	if err != nil {
		return nil, err
	}
	k := &roomKeys{block: block}
	k.macs.New = func() any { return &macState{mac: newMAC(macKey)} }
	return k, nil
}

// tag appends to dst the tag of record under associated data ad. record is
// version ‖ key id ‖ IV ‖ ciphertext, as laid out in a sealed record.
func (k *roomKeys) tag(dst, record, ad []byte) []byte {
	m := k.macs.Get().(*macState)
	defer k.macs.Put(m)
	return m.appendSum(dst, record, ad)
}

// verify reports, in constant time, whether want is the tag of record under
// ad. The computed tag goes to the pooled macState, so nothing is allocated.
func (k *roomKeys) verify(record, ad, want []byte) bool {
	m := k.macs.Get().(*macState)
	defer k.macs.Put(m)
	return hmac.Equal(m.appendSum(m.sum[:0], record, ad), want)
}

// appendSum computes HMAC(version ‖ key id ‖ len(ad) ‖ ad ‖ IV ‖ ciphertext)
// for record = version ‖ key id ‖ IV ‖ ciphertext and appends it to dst.
// The MAC covers the version and the key id, so neither can be changed on
// its own. The length of ad comes before ad so that no shift of bytes
// between ad and the IV gives the same MAC input.
func (m *macState) appendSum(dst, record, ad []byte) []byte {
	const fixed = 1 + keyIDSize // version ‖ key id, as in the record
	m.mac.Reset()
	copy(m.hdr[:fixed], record[:fixed])
	binary.BigEndian.PutUint64(m.hdr[fixed:], uint64(len(ad)))
	m.mac.Write(m.hdr[:])
	m.mac.Write(ad)
	m.mac.Write(record[fixed:])
	return m.mac.Sum(dst)
}
