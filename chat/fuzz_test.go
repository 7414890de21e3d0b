package chat

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// FuzzMessageText: whatever comes in, what is accepted is valid UTF-8 with
// no CR, no other control character but LF and tab, trimmed, 1 to 4000
// characters and at most 16 KiB, and accepting it again changes nothing. Text
// of at most 4000 code points is never too long, and a too-long error names a
// limit that was passed.
func FuzzMessageText(f *testing.F) {
	for _, s := range []string{"hi", "a\r\nb\rc", " \t ", "\x00", "\xff", "id: 1\r\n\r\ndata: x", strings.Repeat("é", 4001),
		strings.Repeat(family, 3) + "x", heavy(16385), strings.Repeat("x\r\n", 2001)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := MessageText(s)
		if err != nil {
			if got != "" {
				t.Fatalf("error %v with text %q", err, got)
			}
			var tooLong *TooLongError
			if errors.As(err, &tooLong) {
				if utf8.RuneCountInString(s) <= MaxTextLength || tooLong.Got <= tooLong.Max ||
					tooLong.Limit == LimitCharacters && tooLong.Max != MaxTextLength || tooLong.Limit == LimitBytes && tooLong.Max != MaxTextBytes {
					t.Fatalf("MessageText(%.40q…): %#v", s, tooLong)
				}
			}
			return
		}
		if !utf8.ValidString(got) || strings.ContainsRune(got, '\r') || got != strings.TrimSpace(got) {
			t.Fatalf("MessageText(%q) = %q", s, got)
		}
		if n := uniseg.GraphemeClusterCount(got); n < 1 || n > MaxTextLength || len(got) > MaxTextBytes {
			t.Fatalf("MessageText(%.40q…) has %d characters, %d bytes", s, n, len(got))
		}
		if ascii := !strings.ContainsFunc(got, func(r rune) bool { return r >= utf8.RuneSelf }); ascii &&
			characters(got, true) != uniseg.GraphemeClusterCount(got) {
			t.Fatalf("ASCII %q: %d characters counted, %d grapheme clusters", got, characters(got, true), uniseg.GraphemeClusterCount(got))
		}
		if again, err := MessageText(got); err != nil || again != got {
			t.Fatalf("MessageText is not stable on %q: %q, %v", got, again, err)
		}
	})
}

// FuzzNickname: an accepted name's display form is accepted again with the
// same key, and holds no format or control character.
func FuzzNickname(f *testing.F) {
	for _, s := range []string{"Alice", "ａｌｉｃｅ", "  a  b ", "al\u202eice", "Zoe\u0308", "\u00a8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		display, key, err := Nickname(s)
		if err != nil {
			return
		}
		if n := utf8.RuneCountInString(display); n < 1 || n > MaxNameLength {
			t.Fatalf("Nickname(%q) = %q, %d characters", s, display, n)
		}
		for _, r := range display {
			if unicode.Is(unicode.Cf, r) || unicode.IsControl(r) || blankGlyph(r) {
				t.Fatalf("Nickname(%q) = %q holds %U", s, display, r)
			}
		}
		if !singleScript(display) {
			t.Fatalf("Nickname(%q) = %q mixes scripts", s, display)
		}
		d2, k2, err := Nickname(display)
		if err != nil || k2 != key {
			t.Fatalf("Nickname(%q) = %q, %q; again: %q, %q, %v", s, display, key, d2, k2, err)
		}
	})
}

// FuzzLookAlikes: an accepted name has one to three distinct, non-empty
// look-alike keys, in order; its display form (what is stored and offered
// back to a returning browser) has the same keys; and it collides with its
// own case-folded key whenever that is a name too, so case alone never tells
// two names apart.
func FuzzLookAlikes(f *testing.F) {
	for _, tt := range lookAlikePairs {
		f.Add(tt.first)
		f.Add(tt.second)
	}
	f.Fuzz(func(t *testing.T, s string) {
		display, key, err := Nickname(s)
		if err != nil {
			return
		}
		looks := lookAlikes(display, key)
		if len(looks) < 1 || len(looks) > 3 || !slices.IsSorted(looks) || len(slices.Compact(slices.Clone(looks))) != len(looks) ||
			slices.Contains(looks, "") {
			t.Fatalf("lookAlikes(%q, %q) = %q", display, key, looks)
		}
		for _, k := range looks {
			if !utf8.ValidString(k) {
				t.Fatalf("lookAlikes(%q, %q) = %q, not UTF-8", display, key, looks)
			}
		}
		d2, k2, err := Nickname(display)
		if err != nil {
			t.Fatalf("Nickname(%q) = %v, though it is %q's display form", display, err, s)
		}
		if again := lookAlikes(d2, k2); !slices.Equal(again, looks) {
			t.Fatalf("lookAlikes of %q = %q, of its display form %q = %q", s, looks, display, again)
		}
		if d3, k3, err := Nickname(key); err == nil {
			if folded := lookAlikes(d3, k3); !slices.ContainsFunc(folded, func(k string) bool { return slices.Contains(looks, k) }) {
				t.Fatalf("%q (keys %q) and its key %q (keys %q) do not collide", display, looks, key, folded)
			}
		}
	})
}

// FuzzRoomName: accepted names are canonical and only of the allowed bytes.
func FuzzRoomName(f *testing.F) {
	for _, s := range []string{"lobby", "LOBBY", "a b", "../x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := RoomName(s)
		if err != nil {
			return
		}
		if got != strings.ToLower(s) || len(got) < 1 || len(got) > MaxRoomLength || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
			t.Fatalf("RoomName(%q) = %q", s, got)
		}
		if again, err := RoomName(got); err != nil || again != got {
			t.Fatalf("RoomName not stable on %q", got)
		}
	})
}
