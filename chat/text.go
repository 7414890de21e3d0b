package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Limits on a message, after trimming.
const (
	// MaxTextLength counts characters as a reader sees them: extended
	// grapheme clusters (Unicode 15.0, UAX #29), so "é" written as e and a
	// combining accent is one, and so is a family emoji joined from seven
	// code points.
	MaxTextLength = 4000

	// MaxTextBytes caps the UTF-8 size, because one character can be
	// hundreds of bytes (a letter carrying 400 combining marks is one
	// cluster of 801 bytes) and the character limit alone would not bound
	// what a message costs to seal, keep and send to every reader. 16 KiB
	// keeps that cost where it was when the limit was 4000 code points of
	// at most 4 bytes, so every message accepted then is accepted now.
	MaxTextBytes = 16 << 10
)

// MessageText checks and normalises the text of a message: it must be valid
// UTF-8; CR and CRLF become LF (a bare CR would end a line in an SSE stream and
// in a browser's reading of one); surrounding white space is trimmed; control
// characters other than newline and tab, and direction embeddings and
// overrides (U+202A–U+202E), are refused; text with nothing visible (only
// spaces, zero-width or blank-drawn characters) is empty. Text over a limit is a
// *TooLongError, which matches ErrMessageTooLong.
func MessageText(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrInvalidText
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ErrEmptyMessage
	}
	visible, ascii := false, true
	for _, r := range s {
		ascii = ascii && r < utf8.RuneSelf
		switch {
		case r != '\n' && r != '\t' && unicode.IsControl(r):
			return "", ErrInvalidText
		case r >= '\u202a' && r <= '\u202e':
			// Embeddings and overrides reorder the letters that follow, so
			// text after a link could be drawn as another address ("Trojan
			// Source", CVE-2021-42574). Isolates and marks do not reverse
			// letters, and right-to-left writers use them: they stay.
			return "", ErrDirectionOverride
		}
		visible = visible || !(unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || blankGlyph(r))
	}
	if !visible { // only zero-width or blank-drawn characters: an empty bubble
		return "", ErrEmptyMessage
	}
	// Characters first: when both limits are passed, that is the one the
	// writer can act on.
	if n := characters(s, ascii); n > MaxTextLength {
		return "", &TooLongError{Limit: LimitCharacters, Max: MaxTextLength, Got: n}
	}
	if len(s) > MaxTextBytes {
		return "", &TooLongError{Limit: LimitBytes, Max: MaxTextBytes, Got: len(s)}
	}
	return s, nil
}

// characters counts the extended grapheme clusters of checked message text.
// In ASCII text with no CR (MessageText has made every line break an LF)
// every byte is a cluster of its own (UAX #29: only CR LF joins two ASCII
// characters), so most messages need no segmentation.
func characters(s string, ascii bool) int {
	if ascii {
		return len(s)
	}
	return uniseg.GraphemeClusterCount(s)
}
