package chat

import (
	"slices"
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
// overrides and isolates) and characters drawn as blanks are refused
// outright, and so are names whose letters mix scripts ("аlice" with a
// Cyrillic а), since they let one name imitate another on screen.
func Nickname(s string) (display, key string, err error) {
	if !utf8.ValidString(s) {
		return "", "", ErrInvalidName
	}
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) || unicode.IsControl(r) || blankGlyph(r) {
			return "", "", ErrInvalidName
		}
	}
	display, err = precis.Nickname.String(s)
	if err != nil {
		return "", "", ErrInvalidName
	}
	if !singleScript(display) {
		return "", "", ErrMixedScripts
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

// blankGlyph reports characters that are drawn as nothing or as a space but
// are not white space, so PRECIS lets them through: Braille's blank pattern
// and the Hangul fillers.
func blankGlyph(r rune) bool {
	switch r {
	case '\u2800', '\u115f', '\u1160', '\u3164', '\uffa0':
		return true
	}
	return false
}

// singleScript reports whether the letters of s come from one script, or
// from one of the mixes that Chinese, Japanese and Korean writing use (with
// Latin), as Unicode's "highly restrictive" level (UTS #39) allows. It stops
// names that borrow a look-alike letter from another script; a name written
// wholly in look-alikes of another script still passes.
func singleScript(s string) bool {
	var seen []string
	for _, r := range s {
		if !unicode.IsLetter(r) {
			continue
		}
		if name := scriptOf(r); name != "Common" && name != "Inherited" && !slices.Contains(seen, name) {
			seen = append(seen, name)
		}
	}
	if len(seen) <= 1 {
		return true
	}
	for _, mix := range [][]string{
		{"Han", "Hiragana", "Katakana", "Latin"},
		{"Han", "Hangul", "Latin"},
		{"Han", "Bopomofo", "Latin"},
	} {
		if !slices.ContainsFunc(seen, func(name string) bool { return !slices.Contains(mix, name) }) {
			return true
		}
	}
	return false
}

func scriptOf(r rune) string {
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}
