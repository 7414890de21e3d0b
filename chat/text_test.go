package chat

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const family = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466" // 👨‍👩‍👧‍👦: 7 code points, 25 bytes, one character

// heavy is one character of n bytes: an "a" carrying combining acute
// accents (2 bytes each); n must be odd.
func heavy(n int) string { return "a" + strings.Repeat("\u0301", (n-1)/2) }

func TestMessageText(t *testing.T) {
	tests := []struct {
		name     string
		in, want string
		err      error // a sentinel, or a *TooLongError compared field by field
	}{
		{"plain", "hello", "hello", nil},
		{"trimmed", "  hi  \n", "hi", nil},
		{"line ends become LF", "a\r\nb\rc\nd", "a\nb\nc\nd", nil},
		{"tab kept", "tab\there", "tab\there", nil},
		{"no forged SSE fields", "id: 5\r\nevent: reset", "id: 5\nevent: reset", nil},
		{"empty", "", "", ErrEmptyMessage},
		{"only white space", " \r\n\t ", "", ErrEmptyMessage},
		{"bell", "bell\a", "", ErrInvalidText},
		{"NUL", "nul\x00", "", ErrInvalidText},
		{"not UTF-8", "\xc3\x28", "", ErrInvalidText},
		{"only zero-width spaces", strings.Repeat("\u200b", 10), "", ErrEmptyMessage},
		{"only a Braille blank and a word joiner", "\u2800\u2060", "", ErrEmptyMessage},
		{"a zero-width joiner inside an emoji is kept", family, family, nil},
		{"right-to-left override", "https://good.example/\u202emoc.live//:sptth", "", ErrDirectionOverride},
		{"left-to-right embedding", "a\u202ab", "", ErrDirectionOverride},
		{"pop directional formatting", "a\u202cb", "", ErrDirectionOverride},
		{"isolates are kept", "\u2067שלום\u2069 world", "\u2067שלום\u2069 world", nil},
		{"direction marks are kept", "abc\u200f", "abc\u200f", nil},

		{"4000 letters", strings.Repeat("x", 4000), strings.Repeat("x", 4000), nil},
		{"4001 letters", strings.Repeat("x", 4001), "", &TooLongError{LimitCharacters, 4000, 4001}},
		{"surrounding space is not counted", " " + strings.Repeat("x", 4000) + " ", strings.Repeat("x", 4000), nil},
		{"4000 two-byte letters", strings.Repeat("ü", 4000), strings.Repeat("ü", 4000), nil},
		{"a decomposed ü is one character", strings.Repeat("u\u0308", 4000), strings.Repeat("u\u0308", 4000), nil},
		{"3990 letters and two families are 3992 characters", strings.Repeat("x", 3990) + family + family, strings.Repeat("x", 3990) + family + family, nil},
		{"3999 letters and two families are 4001 characters", strings.Repeat("x", 3999) + family + family, "", &TooLongError{LimitCharacters, 4000, 4001}},
		{"a line break is one character", strings.Repeat("x\r\n", 2000) + "x", "", &TooLongError{LimitCharacters, 4000, 4001}},

		{"16384 bytes in two characters", heavy(16383) + "!", heavy(16383) + "!", nil},
		{"16385 bytes in three characters", heavy(16383) + "!!", "", &TooLongError{LimitBytes, 16384, 16385}},
		{"16000 bytes of four-byte characters", strings.Repeat("😀", 4000), strings.Repeat("😀", 4000), nil},
		{"over both limits names characters", strings.Repeat(family, 4001), "", &TooLongError{LimitCharacters, 4000, 4001}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MessageText(tt.in)
			if got != tt.want {
				t.Errorf("text = %.40q…, want %.40q…", got, tt.want)
			}
			var want *TooLongError
			if !errors.As(tt.err, &want) {
				if err != tt.err {
					t.Errorf("error = %v, want %v", err, tt.err)
				}
				return
			}
			var tooLong *TooLongError
			if !errors.As(err, &tooLong) {
				t.Fatalf("error = %v, want a *TooLongError", err)
			}
			if diff := cmp.Diff(want, tooLong); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, ErrMessageTooLong) {
				t.Errorf("errors.Is(%v, ErrMessageTooLong) = false", err)
			}
		})
	}
}

// The numbers a writer reads come from the limits themselves.
func TestTooLongErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *TooLongError
		want string
	}{
		{"characters", &TooLongError{LimitCharacters, MaxTextLength, 4012},
			"chat: the message is 4,012 characters long; the limit is 4,000 (12 too many)"},
		{"one character", &TooLongError{LimitCharacters, MaxTextLength, 4001},
			"chat: the message is 4,001 characters long; the limit is 4,000 (1 too many)"},
		{"bytes", &TooLongError{LimitBytes, MaxTextBytes, 17500},
			"chat: the message is 17,500 bytes long; the limit is 16,384 (1,116 too many; emoji and letters with accents take several bytes each)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	if errors.Is(ErrMessageTooLong, &TooLongError{}) || errors.Is(&TooLongError{}, ErrEmptyMessage) {
		t.Error("TooLongError matches an error other than ErrMessageTooLong")
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {16384, "16,384"},
		{100000, "100,000"}, {1234567, "1,234,567"}, {-1234, "-1,234"}, {-123, "-123"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := thousands(tt.n); got != tt.want {
				t.Errorf("thousands(%d) = %q", tt.n, got)
			}
		})
	}
}
