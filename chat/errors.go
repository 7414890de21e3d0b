package chat

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors returned by the Hub. The web layer maps each to an HTTP status in one
// place, so they are values rather than ad-hoc strings.
var (
	ErrInvalidRoom       = errors.New("chat: room names are 1 to 64 characters of a-z, 0-9, '-', '_' and '.'")
	ErrInvalidName       = errors.New("chat: names are 1 to 32 characters, with no control, invisible or direction-changing characters")
	ErrMixedScripts      = errors.New("chat: a name may not mix letters of different scripts, such as Latin and Cyrillic")
	ErrNameTaken         = errors.New("chat: that name is taken in this room")
	ErrRoomFull          = errors.New("chat: this room is full")
	ErrTooManyNames      = errors.New("chat: this browser already has as many names in this room as it may")
	ErrTooManyReaders    = errors.New("chat: the server has reached its limit of open streams")
	ErrTooManyRooms      = errors.New("chat: the server has reached its limit of rooms")
	ErrNotMember         = errors.New("chat: you are not a member of this room")
	ErrEmptyMessage      = errors.New("chat: the message is empty")
	ErrInvalidText       = errors.New("chat: the message is not valid text")
	ErrDirectionOverride = errors.New("chat: the message contains a character that overrides the direction of text (U+202A to U+202E), which can make it read differently from what it says")
	ErrMessageTooLong    = errors.New("chat: the message is too long")
	ErrNoRoom            = errors.New("chat: no such room")
	ErrInvalidLimit      = fmt.Errorf("chat: limit must be a number from 1 to %d", MaxPage)
	ErrInvalidClientID   = fmt.Errorf("chat: a message id is 1 to %d characters of visible ASCII (! to ~, no spaces)", MaxClientID)
	ErrClientIDReused    = errors.New("chat: this message id was already used for a different message; a message sent again must carry the same text")
	// ErrUnavailable marks a shared Log's or StateStore's failure to reach
	// its servers in time (NATS down, or a node cut off from it): worth
	// trying again shortly, not a fault of the request.
	ErrUnavailable = errors.New("chat: the servers that keep the rooms cannot be reached just now; try again shortly")
)

// A TextLimit names the limit a message went over.
type TextLimit int

const (
	LimitCharacters TextLimit = iota + 1 // MaxTextLength, in characters (grapheme clusters)
	LimitBytes                           // MaxTextBytes, in bytes of UTF-8
)

// TooLongError is a message over one of its limits: Got characters or bytes,
// as Limit says, where Max are allowed. It matches ErrMessageTooLong with
// errors.Is, and its text, once "chat: " is taken off, is what the writer
// reads.
type TooLongError struct {
	Limit    TextLimit
	Max, Got int
}

func (e *TooLongError) Error() string {
	over := thousands(e.Got - e.Max)
	if e.Limit == LimitBytes {
		return "chat: the message is " + thousands(e.Got) + " bytes long; the limit is " + thousands(e.Max) +
			" (" + over + " too many; emoji and letters with accents take several bytes each)"
	}
	return "chat: the message is " + thousands(e.Got) + " characters long; the limit is " + thousands(e.Max) +
		" (" + over + " too many)"
}

// Is makes errors.Is(err, ErrMessageTooLong) true, so callers that only need
// to know the kind of failure need not know the type.
func (e *TooLongError) Is(target error) bool { return target == ErrMessageTooLong }

// thousands writes n in decimal with a comma between groups of three digits
// (4,000), as English readers expect.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}
