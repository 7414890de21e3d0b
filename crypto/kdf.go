package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
)

// Labels put in front of the room id in the HKDF info, one per key kind, so
// the encryption and MAC keys of a room are independent. Both have the same
// length and neither is a prefix of the other, so together with the length
// prefix of the room id every (label, room) pair has its own info string.
const (
	encLabel = "cloakroom/v1 enc"
	macLabel = "cloakroom/v1 mac"
)

// keyIDLabel is the whole HKDF info of a master key's id. Its first 16 bytes
// differ from both labels above, so no room's info equals it, and the id is
// independent of every room key: knowing it tells nothing about them or the
// master key. (It does let someone test a guessed master key offline, as
// does any record's tag; a 256-bit random key cannot be guessed.)
const keyIDLabel = "cloakroom/v1 key id"

var errRoomTooLong = errors.New("crypto: room id longer than 2^32-1 bytes")

// hkdfExtract turns the master key into the HKDF pseudorandom key. Box runs it
// once, in NewBox, because the result is the same for every room.
func hkdfExtract(secret, salt []byte) ([]byte, error) {
	return hkdf.Extract(sha256.New, secret, salt)
}

// hkdfExpand derives n bytes for the context info from a pseudorandom key
// made by hkdfExtract.
func hkdfExpand(prk []byte, info string, n int) ([]byte, error) {
	return hkdf.Expand(sha256.New, prk, info, n)
}

// roomInfo builds the HKDF info for one key of one room:
// label ‖ uint32 big-endian len(room) ‖ room. Without the length, names built
// by concatenation ("ab"+"c" and "a"+"bc") could map to the same bytes.
func roomInfo(label, room string) (string, error) {
	if uint64(len(room)) > math.MaxUint32 {
		return "", errRoomTooLong
	}
	b := make([]byte, 0, len(label)+4+len(room))
	b = append(b, label...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(room)))
	b = append(b, room...)
	return string(b), nil
}

// deriveRoomKeys returns the 32-byte AES-256 key and the 32-byte HMAC key of
// room, expanded from the Box's pseudorandom key.
func deriveRoomKeys(prk []byte, room string) (encKey, macKey []byte, err error) {
	encInfo, err := roomInfo(encLabel, room)
	if err != nil {
		return nil, nil, err
	}
	macInfo, err := roomInfo(macLabel, room)
	if err != nil {
		return nil, nil, err
	}
	if encKey, err = hkdfExpand(prk, encInfo, keySize); err != nil {
		return nil, nil, err
	}
	if macKey, err = hkdfExpand(prk, macInfo, keySize); err != nil {
		return nil, nil, err
	}
	return encKey, macKey, nil
}
