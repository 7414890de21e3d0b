package chat

import (
	"strings"
	"testing"
)

func TestRoomName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"lobby", "lobby", nil},
		{"Lobby", "lobby", nil},
		{"a-b_c.d9", "a-b_c.d9", nil},
		{strings.Repeat("x", 64), strings.Repeat("x", 64), nil},
		{strings.Repeat("x", 65), "", ErrInvalidRoom},
		{"", "", ErrInvalidRoom},
		{"two words", "", ErrInvalidRoom},
		{"café", "", ErrInvalidRoom},
		{"a/b", "", ErrInvalidRoom},
		{"..%2f", "", ErrInvalidRoom},
	}
	for _, tt := range tests {
		got, err := RoomName(tt.in)
		if got != tt.want || err != tt.err {
			t.Errorf("RoomName(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestNickname(t *testing.T) {
	tests := []struct {
		in, display, key string
		err              error
	}{
		{"Alice", "Alice", "alice", nil},
		{"ａｌｉｃｅ", "alice", "alice", nil},
		{"  Bob   Smith ", "Bob Smith", "bob smith", nil},
		{"Zoë", "Zoë", "zoë", nil},
		{"Zoe\u0308", "Zoë", "zoë", nil}, // NFC folds the combining mark
		{"李雷", "李雷", "李雷", nil},
		{strings.Repeat("é", 32), strings.Repeat("é", 32), strings.Repeat("é", 32), nil},
		{strings.Repeat("é", 33), "", "", ErrInvalidName},
		{"", "", "", ErrInvalidName},
		{"   ", "", "", ErrInvalidName},
		{"al\u202eice", "", "", ErrInvalidName}, // right-to-left override
		{"al\u2066ice", "", "", ErrInvalidName}, // left-to-right isolate
		{"al\u200bice", "", "", ErrInvalidName}, // zero-width space
		{"al\u200dice", "", "", ErrInvalidName}, // zero-width joiner
		{"al\x00ice", "", "", ErrInvalidName},
		{"al\nice", "", "", ErrInvalidName},
		{"\xff", "", "", ErrInvalidName},
		{"alice\u2800", "", "", ErrInvalidName}, // Braille blank
		{"\u2800", "", "", ErrInvalidName},
		{"\u3164", "", "", ErrInvalidName},      // Hangul filler
		{"\u0430lice", "", "", ErrMixedScripts}, // Cyrillic а among Latin
		{"Ivan Иванов", "", "", ErrMixedScripts},
		{"Иван", "Иван", "иван", nil},
		{"田中さん", "田中さん", "田中さん", nil},          // Han and Hiragana
		{"Kim 김민준", "Kim 김민준", "kim 김민준", nil}, // Latin and Hangul
		{"élan_2", "élan_2", "élan_2", nil},
		{"🙂 alice", "🙂 alice", "🙂 alice", nil},
	}
	for _, tt := range tests {
		display, key, err := Nickname(tt.in)
		if display != tt.display || key != tt.key || err != tt.err {
			t.Errorf("Nickname(%q) = %q, %q, %v; want %q, %q, %v", tt.in, display, key, err, tt.display, tt.key, tt.err)
		}
	}
}
