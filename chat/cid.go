package chat

import "strconv"

// MaxClientID is the longest client message id, in characters (each one
// byte: see ClientID).
const MaxClientID = 64

// ClientID checks a client's own id for a message, which lets the client
// send the message again after a failure without it appearing twice: 1 to
// MaxClientID characters of visible ASCII (! to ~, no spaces). A UUID, a
// counter or 32 hex digits all fit. Anything else is ErrInvalidClientID.
// Nothing is normalised, so ids compare byte for byte.
func ClientID(s string) (string, error) {
	if len(s) < 1 || len(s) > MaxClientID {
		return "", ErrInvalidClientID
	}
	for i := range len(s) {
		if s[i] < '!' || s[i] > '~' {
			return "", ErrInvalidClientID
		}
	}
	return s, nil
}

// scopedClientID is the id a member's message is kept under in the log:
// one member's ids can then neither find nor block another member's
// messages, whatever they choose.
func scopedClientID(member uint64, cid string) string {
	return strconv.FormatUint(member, 10) + ":" + cid
}
