package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
)

// tokenLabel is the whole HKDF info of the key that Box.Token computes its
// HMACs under. Its first 16 bytes differ from encLabel's, macLabel's and
// keyIDLabel's, so no room's info and no key id's equals it.
const tokenLabel = "cloakroom/v1 token key"

// tokenSize is how many bytes of the HMAC a token keeps: 144 bits, 24
// characters of unpadded base64url. Two names share a token with odds of
// about n²/2^145 for n names, far out of reach.
const tokenSize = 18

// Token returns a stable pseudonym for value of the given kind: the first 18
// bytes of HMAC-SHA-256(K, uint32 big-endian len(kind) ‖ kind ‖ value), in
// unpadded base64url (24 characters of A–Z a–z 0–9 '-' '_'), where K is a
// 32-byte key HKDF derives from the current master key under its own label.
// The same key gives the same token on every server; without the key, the
// token tells nothing of the value, and tokens of two kinds never match.
//
// A cluster names a room in NATS by Token("room", name) (a subject token and a
// key-value key, where a name's '.' would split the subject) and a browser's
// identity by Token("owner", session id). Tokens come from the current key
// only: rotating the master key changes every token.
func (b *Box) Token(kind, value string) string {
	mac := hmac.New(sha256.New, b.tokenKey)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(kind)))
	mac.Write(n[:])
	mac.Write([]byte(kind))
	mac.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:tokenSize])
}
