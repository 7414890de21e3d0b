package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// Limits on names, in characters (runes).
const (
	MaxRoomLength = 64
	MaxNameLength = 32
)

// RoomName checks a room name and returns its canonical form. Room names are
// case-insensitive, so the canonical form is lower case.
func RoomName(s string) (string, error) {
	if s == "" || len(s) > MaxRoomLength {
		return "", ErrInvalidRoom
	}
	s = strings.ToLower(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", ErrInvalidRoom
		}
	}
	return s, nil
}

// Nickname checks a member's name and returns the form to display and the key
// two names are compared by. Names follow RFC 8266 (PRECIS Nickname): spaces
// are collapsed and trimmed, the display form is NFKC-normalised (so full-width
// letters become ASCII), and the key is also case-folded, so "Alice" and
// "ａｌｉｃｅ" have the same key. Format characters (zero-width joiners, bidi
// overrides and isolates) are refused outright, since they let one name
// imitate another on screen.
func Nickname(s string) (display, key string, err error) {
	if !utf8.ValidString(s) {
		return "", "", ErrInvalidName
	}
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) || unicode.IsControl(r) {
			return "", "", ErrInvalidName
		}
	}
	display, err = precis.Nickname.String(s)
	if err != nil {
		return "", "", ErrInvalidName
	}
	if n := utf8.RuneCountInString(display); n == 0 || n > MaxNameLength {
		return "", "", ErrInvalidName
	}
	key, err = precis.Nickname.CompareKey(display)
	if err != nil {
		return "", "", ErrInvalidName
	}
	return display, key, nil
}
