package chat

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClientID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"a UUID", "0b6c3f4e-6f1d-4c53-9b0e-2a1d8c1e5f7a", true},
		{"one character", "x", true},
		{"every visible ASCII character", "!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~", true},
		{"64 characters", strings.Repeat("a", MaxClientID), true},
		{"65 characters", strings.Repeat("a", MaxClientID+1), false},
		{"empty", "", false},
		{"a space", "a b", false},
		{"a tab", "a\tb", false},
		{"a line break", "a\nb", false},
		{"DEL", "a\x7f", false},
		{"non-ASCII", "café", false},
		{"invalid UTF-8", "\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ClientID(tt.in)
			if tt.ok && (err != nil || got != tt.in) {
				t.Errorf("ClientID(%q) = %q, %v; want it back", tt.in, got, err)
			}
			if !tt.ok && (!errors.Is(err, ErrInvalidClientID) || got != "") {
				t.Errorf("ClientID(%q) = %q, %v; want ErrInvalidClientID", tt.in, got, err)
			}
		})
	}
}

// posted is what a test compares of a message event.
type posted struct {
	ID     uint64
	Member uint64
	Text   string
}

func postedOf(ev Event) posted { return posted{ev.ID, ev.Member, ev.Text} }

// A message sent again under its client id is the message first posted:
// nothing is stored or published, and the room's ids go on from where they
// were.
func TestPostRepeat(t *testing.T) {
	h, f, _ := newTestHub(t, Config{})
	alice := mustJoin(t, h, "a", "lobby", "alice")
	first, err := h.Post("a", "lobby", alice.ID, " hello\r\n", "c-1")
	if err != nil {
		t.Fatal(err)
	}
	published := len(f.events())
	for _, text := range []string{" hello\r\n", "hello", "hello\n"} { // the same once normalised
		again, err := h.Post("a", "lobby", 0, text, "c-1")
		if err != nil {
			t.Fatalf("repeat with %q: %v", text, err)
		}
		if diff := cmp.Diff(postedOf(first), postedOf(again)); diff != "" {
			t.Errorf("repeat with %q (-first +repeat):\n%s", text, diff)
		}
		if !again.Time.Equal(first.Time) || again.Name != first.Name || again.Kind != KindMessage {
			t.Errorf("repeat = %+v, first %+v", again, first)
		}
	}
	if n := len(f.events()); n != published {
		t.Errorf("repeats published %d events", n-published)
	}
	next, err := h.Post("a", "lobby", 0, "next", "c-2")
	if err != nil || next.ID != first.ID+1 {
		t.Fatalf("the post after the repeats = id %d, %v; want %d", next.ID, err, first.ID+1)
	}
	p, err := h.History("lobby", 0, MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, ev := range p.Events {
		if ev.Kind == KindMessage {
			texts = append(texts, ev.Text)
		}
	}
	if diff := cmp.Diff([]string{"hello", "next"}, texts); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// Ids are the member's own: the same id from another member, or from
// another member of the same browser, is another message.
func TestPostRepeatScope(t *testing.T) {
	h, f, _ := newTestHub(t, Config{})
	alice := mustJoin(t, h, "a", "lobby", "alice")
	tab2 := mustJoin(t, h, "a", "lobby", "alice-2")
	bob := mustJoin(t, h, "b", "lobby", "bob")
	before := len(f.events())
	var ids []uint64
	for _, p := range []struct {
		owner  string
		member uint64
	}{{"a", alice.ID}, {"a", tab2.ID}, {"b", bob.ID}} {
		ev, err := h.Post(p.owner, "lobby", p.member, "same words", "shared")
		if err != nil {
			t.Fatal(err)
		}
		if ev.Member != p.member {
			t.Errorf("member %d's post is by %d", p.member, ev.Member)
		}
		ids = append(ids, ev.ID)
	}
	if ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
		t.Errorf("posts under one id by three members took ids %v", ids)
	}
	if n := len(f.events()) - before; n != 3 {
		t.Errorf("%d messages published, want 3", n)
	}
}

// An id is remembered as long as the room keeps its message: once
// retention has dropped it, the same id posts again.
func TestPostRepeatAfterRetention(t *testing.T) {
	h, _, _ := newTestHub(t, Config{History: 3})
	mustJoin(t, h, "a", "lobby", "alice")
	first, err := h.Post("a", "lobby", 0, "hello", "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := h.Post("a", "lobby", 0, "hello", "c-1"); err != nil || again.ID != first.ID {
		t.Fatalf("repeat while kept = id %d, %v; want %d", again.ID, err, first.ID)
	}
	for _, text := range []string{"two", "three", "four"} {
		if _, err := h.Post("a", "lobby", 0, text, ""); err != nil {
			t.Fatal(err)
		}
	}
	after, err := h.Post("a", "lobby", 0, "hello", "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != first.ID+4 {
		t.Errorf("repeat after retention = id %d, want a new message, %d", after.ID, first.ID+4)
	}
}

func TestPostClientIDErrors(t *testing.T) {
	h, f, _ := newTestHub(t, Config{})
	mustJoin(t, h, "a", "lobby", "alice")
	if _, err := h.Post("a", "lobby", 0, "hello", "c-1"); err != nil {
		t.Fatal(err)
	}
	before := len(f.events())
	tests := []struct {
		name, text, cid string
		err             error
	}{
		{"another text under a used id", "goodbye", "c-1", ErrClientIDReused},
		{"a space in the id", "hello", "c 1", ErrInvalidClientID},
		{"an id too long", "hello", strings.Repeat("c", MaxClientID+1), ErrInvalidClientID},
		{"an empty message wins over the id", "  ", "c 1", ErrEmptyMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := h.Post("a", "lobby", 0, tt.text, tt.cid)
			if !errors.Is(err, tt.err) || ev.ID != 0 {
				t.Errorf("Post(%q, %q) = %d, %v; want %v", tt.text, tt.cid, ev.ID, err, tt.err)
			}
		})
	}
	if n := len(f.events()) - before; n != 0 {
		t.Errorf("refused posts published %d events", n)
	}
}
