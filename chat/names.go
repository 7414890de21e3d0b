package chat

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
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

// Nickname checks a member's name and returns the form to display and its
// RFC 8266 comparison key. Names follow RFC 8266 (PRECIS Nickname): spaces
// are collapsed and trimmed, the display form is NFKC-normalised (so full-width
// letters become ASCII), and the key is also case-folded, so "Alice" and
// "ａｌｉｃｅ" have the same key. Format characters (zero-width joiners, bidi
// overrides and isolates) and characters drawn as blanks are refused
// outright, and so are names whose letters mix scripts ("аlice" with a
// Cyrillic а), since they let one name imitate another on screen. A room
// tells names apart by their look-alike keys (lookAlikes), which build on
// these two forms.
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

// lookAlikes returns the keys that tell whether a name can pass for another
// on screen: two names are look-alikes when any key of one equals any key of
// the other. display and key are what Nickname returned for the name. Each
// key is a skeleton in the sense of Unicode's UTS #39 §4 (confusables.txt of
// Unicode 13.0, by way of github.com/mtibben/confusables): "AIice" (capital
// i), "Alıce" (dotless i) and "аре" (all Cyrillic) have the skeletons of
// "Alice", "Alice" and "ape".
//
// One skeleton is not enough because the table is not case-blind: it maps
// capital I to l but leaves small i alone, and maps 0 to capital O. So the
// keys are the skeleton of the name as shown (AIice → Alice), of its
// case-folded key (ALICE → alice, matching Alice's), and of the skeleton
// case-folded in turn (AIice → alice, b0b → bob), which makes any case
// variant of a look-alike a look-alike too. The result holds 1 to 3 distinct,
// non-empty strings.
func lookAlikes(display, key string) []string {
	shown := confusables.Skeleton(display)
	keys := []string{
		shown,
		confusables.Skeleton(key),
		// A Caser keeps state between calls, so each call makes its own.
		confusables.Skeleton(cases.Lower(language.Und, cases.HandleFinalSigma(false)).String(shown)),
	}
	slices.Sort(keys)
	return slices.Compact(keys)
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
// wholly in look-alikes of another script passes here, and is caught by its
// look-alike keys instead.
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
