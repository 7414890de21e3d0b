package crypto

import (
	"bytes"
	"regexp"
	"testing"
)

func TestToken(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	b1, err := NewBox(k1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewBox(k1, k2) // the same current key, an old one beside it
	other, _ := NewBox(k2, k1) // rotated: k2 current
	shape := regexp.MustCompile(`^[A-Za-z0-9_-]{24}$`)
	tok := b1.Token("room", "lobby")
	if !shape.MatchString(tok) {
		t.Fatalf("Token = %q, want 24 base64url characters", tok)
	}
	for _, tc := range []struct {
		name string
		got  string
		same bool
	}{
		{"same key, same value", again.Token("room", "lobby"), true},
		{"another value", b1.Token("room", "lobby2"), false},
		{"another kind", b1.Token("owner", "lobby"), false},
		{"kind and value split elsewhere", b1.Token("roo", "mlobby"), false},
		{"another current key", other.Token("room", "lobby"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.got == tok) != tc.same {
				t.Errorf("token %q vs %q: same = %v, want %v", tc.got, tok, tc.got == tok, tc.same)
			}
		})
	}
}
