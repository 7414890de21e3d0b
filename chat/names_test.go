package chat

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// lookAlikePairs are names that could pass for one another on screen, and
// names that merely resemble one another in spelling. With either in a room,
// joining as the other (from another browser) gives err; ErrMixedScripts
// says that the second cannot join at all.
var lookAlikePairs = []struct {
	why, first, second string
	err                error
}{
	// Look-alikes
	{"capital I for l", "Alice", "AIice", ErrNameTaken},
	{"dotless i", "Alice", "Al\u0131ce", ErrNameTaken},
	{"full-width letters", "Alice", "\uff41\uff4c\uff49\uff43\uff45", ErrNameTaken},
	{"mathematical bold letters", "Alice", "\U0001d400\U0001d425\U0001d422\U0001d41c\U0001d41e", ErrNameTaken},
	{"upper case", "Alice", "ALICE", ErrNameTaken},
	{"mixed case", "alice", "aLiCe", ErrNameTaken},
	{"capital I, other case", "alice", "AIice", ErrNameTaken},
	{"capital I and upper case", "ALICE", "aIice", ErrNameTaken},
	{"Cyrillic capital A among Latin", "Alice", "\u0410lice", ErrMixedScripts},
	{"whole-script Cyrillic", "ape", "\u0430\u0440\u0435", ErrNameTaken},
	{"whole-script Cyrillic capitals", "BOX", "\u0412\u041e\u0425", ErrNameTaken},
	{"whole-script Cyrillic capitals, lower case", "box", "\u0412\u041e\u0425", ErrNameTaken},
	{"whole-script Greek", "opa", "\u03bf\u03c1\u03b1", ErrNameTaken},
	{"Greek omicron among Latin", "bob", "b\u03bfb", ErrMixedScripts},
	{"digit zero for capital O", "Oscar", "0scar", ErrNameTaken},
	{"digit zero, lower case", "bob", "b0b", ErrNameTaken},
	{"digit one for l", "Bill", "Bi11", ErrNameTaken},
	{"vertical bar for l", "Bill", "Bi||", ErrNameTaken},
	{"rn for m", "Kim", "Kirn", ErrNameTaken},
	{"rn for m, upper case", "MIA", "rnia", ErrNameTaken},
	{"combining diaeresis", "Zo\u00eb", "Zoe\u0308", ErrNameTaken},
	{"combining solidus", "Bj\u00f8rn", "Bjo\u0337rn", ErrNameTaken},
	{"ligature", "fiona", "\ufb01ona", ErrNameTaken},
	{"spaces", "Bob Smith", "  Bob   Smith ", ErrNameTaken},

	// Different names
	{"longer", "alice", "alicia", nil},
	{"a digit more", "bob", "bob2", nil},
	{"other digits", "user1", "user2", nil},
	{"other vowel", "anna", "anne", nil},
	{"accent", "Emile", "\u00c9mile", nil},
	{"diaeresis", "Zoe", "Zo\u00eb", nil},
	{"one m, one n", "mia", "nia", nil},
	{"Cyrillic and Latin spellings", "Ivan", "\u0418\u0432\u0430\u043d", nil},
	{"Cyrillic names", "\u0418\u0432\u0430\u043d", "\u0418\u0433\u043e\u0440\u044c", nil},
	{"Greek and Latin spellings", "Alexis", "\u0391\u03bb\u03ad\u03be\u03b7\u03c2", nil},
	{"Han names", "\u674e\u96f7", "\u674e\u96f7\u96f7", nil},
	{"Han order", "\u7530\u4e2d", "\u4e2d\u7530", nil},
	{"Hangul names", "\uae40\ubbfc\uc900", "\uae40\ubbfc\uc9c0", nil},
	{"Arabic names", "\u0639\u0644\u064a", "\u0639\u0644\u0627", nil},
}

// TestLookAlikeNames joins each pair, in both orders, in a hub of its own.
func TestLookAlikeNames(t *testing.T) {
	for _, tt := range lookAlikePairs {
		t.Run(tt.why, func(t *testing.T) {
			if tt.err == ErrMixedScripts {
				h, _, _ := newTestHub(t, Config{})
				if _, err := h.Join("b", "lobby", tt.second); err != tt.err {
					t.Errorf("Join(%q) in an empty room = %v, want %v", tt.second, err, tt.err)
				}
				return
			}
			for _, pair := range [][2]string{{tt.first, tt.second}, {tt.second, tt.first}} {
				h, _, _ := newTestHub(t, Config{})
				mustJoin(t, h, "a", "lobby", pair[0])
				if _, err := h.Join("b", "lobby", pair[1]); err != tt.err {
					t.Errorf("with %q in the room, Join(%q) = %v, want %v", pair[0], pair[1], err, tt.err)
				}
			}
		})
	}
}

// TestLookAlikeKeysAreFreed: every key of a member goes when it leaves or is
// removed for staying away, and a name offered back to a returning browser
// can be taken again.
func TestLookAlikeKeysAreFreed(t *testing.T) {
	h, _, clk := newTestHub(t, Config{AwayTimeout: time.Minute})
	names := func() map[string]uint64 {
		t.Helper()
		r := h.rooms["lobby"]
		r.mu.Lock()
		defer r.mu.Unlock()
		keys := make(map[string]uint64)
		for _, m := range r.state.Members {
			for _, k := range m.Looks {
				keys[k] = m.ID
			}
		}
		return keys
	}

	alice := mustJoin(t, h, "a", "lobby", "AIice") // keys Alice, aiice and alice
	want := map[string]uint64{"Alice": alice.ID, "aiice": alice.ID, "alice": alice.ID}
	if diff := cmp.Diff(want, names()); diff != "" {
		t.Fatalf("keys after joining (-want +got):\n%s", diff)
	}
	if _, err := h.Join("b", "lobby", "alice"); err != ErrNameTaken {
		t.Fatalf("Join(alice) beside AIice = %v, want %v", err, ErrNameTaken)
	}
	must(t, h.Leave("a", "lobby", alice.ID))
	if diff := cmp.Diff(map[string]uint64{}, names()); diff != "" {
		t.Fatalf("keys after leaving (-want +got):\n%s", diff)
	}

	// Another browser takes a look-alike meanwhile; the name offered back is
	// then taken, until that member is removed for staying away.
	bob := mustJoin(t, h, "b", "lobby", "ALICE")
	offered, ok := h.Departed("a", "lobby")
	if !ok || offered != "AIice" {
		t.Fatalf("Departed = %q, %v; want AIice, true", offered, ok)
	}
	if _, err := h.Join("a", "lobby", offered); err != ErrNameTaken {
		t.Fatalf("Join(%q) beside ALICE = %v, want %v", offered, err, ErrNameTaken)
	}
	clk.Add(time.Minute)
	must(t, h.Sweep())
	if _, err := h.Membership("b", "lobby", bob.ID); err != ErrNotMember {
		t.Fatalf("ALICE after the away timeout: %v, want %v", err, ErrNotMember)
	}
	if diff := cmp.Diff(map[string]uint64{}, names()); diff != "" {
		t.Fatalf("keys after the away timeout (-want +got):\n%s", diff)
	}
	back := mustJoin(t, h, "a", "lobby", offered)
	if back.Name != "AIice" {
		t.Fatalf("joined again as %q, want AIice", back.Name)
	}
}
