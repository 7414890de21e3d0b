package chat

import (
	"errors"
	"fmt"
)

// Errors returned by the Hub. The web layer maps each to an HTTP status in one
// place, so they are values rather than ad-hoc strings.
var (
	ErrInvalidRoom    = errors.New("chat: room names are 1 to 64 characters of a-z, 0-9, '-', '_' and '.'")
	ErrInvalidName    = errors.New("chat: names are 1 to 32 characters, with no control, invisible or direction-changing characters")
	ErrMixedScripts   = errors.New("chat: a name may not mix letters of different scripts, such as Latin and Cyrillic")
	ErrNameTaken      = errors.New("chat: that name is taken in this room")
	ErrRoomFull       = errors.New("chat: this room is full")
	ErrTooManyNames   = errors.New("chat: this browser already has as many names in this room as it may")
	ErrTooManyReaders = errors.New("chat: the server has reached its limit of open streams")
	ErrTooManyRooms   = errors.New("chat: the server has reached its limit of rooms")
	ErrNotMember      = errors.New("chat: you are not a member of this room")
	ErrEmptyMessage   = errors.New("chat: the message is empty")
	ErrInvalidText    = errors.New("chat: the message is not valid text")
	ErrMessageTooLong = errors.New("chat: the message is longer than 4000 characters")
	ErrNoRoom         = errors.New("chat: no such room")
	ErrInvalidLimit   = fmt.Errorf("chat: limit must be a number from 1 to %d", MaxPage)
)
