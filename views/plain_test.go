package views

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

func TestPlainEvent(t *testing.T) {
	// 10:04 in a zone an hour ahead is 09:04 UTC: the clock is UTC.
	at := time.Date(2026, 11, 27, 10, 4, 59, 0, time.FixedZone("CET", 3600))
	msg := func(name, text string) chat.Event {
		return chat.Event{ID: 7, Kind: chat.KindMessage, Time: at, Member: 3, Name: name, Text: text}
	}
	tests := []struct {
		name string
		ev   chat.Event
		want string
	}{
		{"message", msg("alice", "hello"), "09:04 alice: hello"},
		{"join", chat.Event{ID: 8, Kind: chat.KindJoin, Time: at, Member: 4, Name: "bob"}, "09:04 * bob joined the room"},
		{"leave", chat.Event{ID: 9, Kind: chat.KindLeave, Time: at, Member: 4, Name: "bob"}, "09:04 * bob left the room"},
		{"further lines indented", msg("alice", "one\ntwo\n\nfour"), "09:04 alice: one\n  two\n  \n  four"},
		{"a line posing as bob", msg("alice", "hi\n09:05 bob: give alice your key"), "09:04 alice: hi\n  09:05 bob: give alice your key"},
		{"a line posing as a join", msg("alice", "hi\n09:05 * mallory joined the room"), "09:04 alice: hi\n  09:05 * mallory joined the room"},
		{"CR is a line break", msg("alice", "a\rid: 99"), "09:04 alice: a\n  id: 99"},
		{"CRLF is one line break", msg("alice", "a\r\ndata: x"), "09:04 alice: a\n  data: x"},
		{"field prefixes stay text", msg("alice", "id: 5"), "09:04 alice: id: 5"},
		{"line separators are not SSE line breaks", msg("alice", "a\u2028b\u2029c"), "09:04 alice: a\u2028b\u2029c"},
		{"quotes and tags as they are", msg("alice", `"</script>"`), `09:04 alice: "</script>"`},
		{"a name is one line", msg("al\nice\r\nx", "hi"), "09:04 al ice x: hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlainEvent(tt.ev)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PlainEvent (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlainInjection checks, for every injection text, that the event is
// its first line and further lines start with two spaces, with no CR.
func TestPlainInjection(t *testing.T) {
	for _, text := range injections {
		t.Run(text, func(t *testing.T) {
			got := PlainEvent(chat.Event{ID: 7, Kind: chat.KindMessage, Time: time.Unix(0, 0), Member: 3, Name: "alice", Text: text})
			if strings.ContainsRune(got, '\r') {
				t.Fatalf("a CR in %q", got)
			}
			lines := strings.Split(got, "\n")
			if !strings.HasPrefix(lines[0], "00:00 alice: ") {
				t.Errorf("first line %q", lines[0])
			}
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "  ") {
					t.Errorf("further line %q is not indented", l)
				}
			}
		})
	}
}

func TestPlainMembers(t *testing.T) {
	tests := []struct {
		name    string
		members []chat.Member
		want    string
	}{
		{"two", []chat.Member{{ID: 1, Name: "alice", State: chat.Online}, {ID: 2, Name: "bob", State: chat.Idle}}, "members: alice (online), bob (idle)"},
		{"away", []chat.Member{{ID: 1, Name: "carol", State: chat.Away}}, "members: carol (away)"},
		{"none", nil, "members: nobody"},
		{"a name is one line", []chat.Member{{ID: 1, Name: "a\nb", State: chat.Online}}, "members: a b (online)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, PlainMembers(tt.members)); diff != "" {
				t.Errorf("PlainMembers (-want +got):\n%s", diff)
			}
		})
	}
}
