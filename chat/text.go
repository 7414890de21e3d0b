package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTextLength is the longest message, in characters, after trimming.
const MaxTextLength = 4000

// MessageText checks and normalises the text of a message: it must be valid
// UTF-8; CR and CRLF become LF (a bare CR would end a line in an SSE stream and
// in a browser's reading of one); surrounding white space is trimmed; control
// characters other than newline and tab are refused.
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
	n := 0
	for _, r := range s {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return "", ErrInvalidText
		}
		n++
	}
	if n > MaxTextLength {
		return "", ErrMessageTooLong
	}
	return s, nil
}
