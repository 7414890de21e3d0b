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
// characters other than newline and tab are refused. Text over a limit is a
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
	for _, r := range s {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return "", ErrInvalidText
		}
	}
	// Characters first: when both limits are passed, that is the one the
	// writer can act on.
	if n := uniseg.GraphemeClusterCount(s); n > MaxTextLength {
		return "", &TooLongError{Limit: LimitCharacters, Max: MaxTextLength, Got: n}
	}
	if len(s) > MaxTextBytes {
		return "", &TooLongError{Limit: LimitBytes, Max: MaxTextBytes, Got: len(s)}
	}
	return s, nil
}
