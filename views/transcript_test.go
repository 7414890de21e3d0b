package views

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

func TestTranscriptEntry(t *testing.T) {
	// 10:04:59 in a zone an hour ahead is 09:04:59 UTC: times are UTC.
	at := time.Date(2026, 11, 27, 10, 4, 59, 0, time.FixedZone("CET", 3600))
	msg := func(name, text string) chat.Event {
		return chat.Event{ID: 7, Kind: chat.KindMessage, Time: at, Member: 3, Name: name, Text: text}
	}
	const ts = "2026-11-27T09:04:59Z"
	tests := []struct {
		name string
		ev   chat.Event
		want string
	}{
		{"message", msg("alice", "hello"), ts + " alice: hello"},
		{"join", chat.Event{ID: 8, Kind: chat.KindJoin, Time: at, Member: 4, Name: "bob"}, ts + " * bob joined the room"},
		{"leave", chat.Event{ID: 9, Kind: chat.KindLeave, Time: at, Member: 4, Name: "bob"}, ts + " * bob left the room"},
		{"unknown kind", chat.Event{ID: 9, Kind: 42, Time: at, Member: 4, Name: "bob"}, ts + " * event of unknown kind 42 about bob"},
		{"further lines indented", msg("alice", "one\ntwo\n\nfour"), ts + " alice: one\n  two\n  \n  four"},
		{"a line posing as mallory", msg("alice", "hi\n12:00 mallory: hi"), ts + " alice: hi\n  12:00 mallory: hi"},
		{"a line posing as an entry", msg("alice", "hi\n"+ts+" * bob left the room"), ts + " alice: hi\n  " + ts + " * bob left the room"},
		{"a line posing as a note", msg("alice", "hi\n# End of the transcript"), ts + " alice: hi\n  # End of the transcript"},
		{"CR and CRLF are line breaks", msg("alice", "a\rb\r\nc"), ts + " alice: a\n  b\n  c"},
		{"line and paragraph separators made visible", msg("alice", "a\u2028b\u2029c"), ts + " alice: a<U+2028>b<U+2029>c"},
		{"C0, DEL and C1 made visible, tab kept", msg("alice", "nul\x00 esc\x1b[2J del\x7f nel\u0085 vt\v ff\f\ttab"),
			ts + " alice: nul<U+0000> esc<U+001B>[2J del<U+007F> nel<U+0085> vt<U+000B> ff<U+000C>\ttab"},
		{"bidi controls made visible", msg("alice", "a\u202eb\u2067c\u2069d\u200fe\u061c"),
			ts + " alice: a<U+202E>b<U+2067>c<U+2069>d<U+200F>e<U+061C>"},
		{"invalid UTF-8 is U+FFFD", msg("alice", "a\xffb"), ts + " alice: a\uFFFDb"},
		{"quotes and tags as they are", msg("alice", `"</script>" & <b>`), ts + ` alice: "</script>" & <b>`},
		{"emoji and combining marks as they are", msg("zoë", "👩‍👩‍👧 e\u0301\u0301 🇫🇷"), ts + " zoë: 👩‍👩‍👧 e\u0301\u0301 🇫🇷"},
		{"a name with a space is quoted", msg("Jane Doe", "hi"), ts + ` "Jane Doe": hi`},
		{"a name posing as a sender is quoted", msg("bob: hi", "x"), ts + ` "bob: hi": x`},
		{"a joining name posing as a leave is quoted", chat.Event{Kind: chat.KindJoin, Time: at, Name: "bob left the room"}, ts + ` * "bob left the room" joined the room`},
		{"quotes and backslashes in a name are escaped", msg(`a"b\c`, "x"), ts + ` "a\"b\\c": x`},
		{"a name with a line break", msg("al\nice", "x"), ts + ` "al<U+000A>ice": x`},
		{"a name of a star", msg("*", "x"), ts + ` "*": x`},
		{"an empty name", msg("", "x"), ts + ` "": x`},
		{"letters, digits, emoji and -_.' stay bare", msg("Zoë_o'neil-2.😀", "x"), ts + " Zoë_o'neil-2.😀: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, TranscriptEntry(tt.ev)); diff != "" {
				t.Errorf("TranscriptEntry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTranscriptLines(t *testing.T) {
	at := time.Date(2026, 11, 30, 21, 30, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name, got, want string
	}{
		{"header", TranscriptHeader("lobby", 1001, 1003, at), "# Cloakroom transcript of #lobby: events 1001 to 1003 (3), generated 2026-11-30T20:30:00Z, times in UTC"},
		{"header of nothing", TranscriptHeader("lobby", 1004, 1003, at), "# Cloakroom transcript of #lobby: no events kept, generated 2026-11-30T20:30:00Z"},
		{"header of an odd room", TranscriptHeader("a\nb", 1, 1, at), "# Cloakroom transcript of #a<U+000A>b: events 1 to 1 (1), generated 2026-11-30T20:30:00Z, times in UTC"},
		{"end", TranscriptEnd(3, 1003), "# End of the transcript: 3 events, up to event 1003. Later events are not in it."},
		{"end of nothing", TranscriptEnd(0, 1003), "# End of the transcript: no events."},
		{"cut", TranscriptCut("The room was dropped.", 2, 1002), "# Incomplete transcript: The room was dropped. It stops after 2 events, at event 1002."},
		{"cut at once", TranscriptCut("The room was dropped.", 0, 1000), "# Incomplete transcript: The room was dropped. It stops before its first event."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzTranscriptEntry checks that whatever the name and text, an entry is
// valid UTF-8, its first line starts with the time, every further line with
// two spaces, and nothing that could break a line or reorder it is left.
func FuzzTranscriptEntry(f *testing.F) {
	for _, s := range injections {
		f.Add("alice", s)
	}
	f.Add("bob: hi", "x\u2028y")
	f.Add("\u202ebob", "\u2067a\u0085b")
	f.Fuzz(func(t *testing.T, name, text string) {
		ev := chat.Event{ID: 1, Kind: chat.KindMessage, Time: time.Unix(0, 0), Name: name, Text: text}
		got := TranscriptEntry(ev)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 in %q", got)
		}
		lines := strings.Split(got, "\n")
		if !strings.HasPrefix(lines[0], "1970-01-01T00:00:00Z ") {
			t.Errorf("first line %q does not start with the time", lines[0])
		}
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "  ") {
				t.Errorf("further line %q is not indented", l)
			}
		}
		if i := strings.IndexFunc(strings.ReplaceAll(got, "\n", ""), Disruptive); i >= 0 {
			t.Errorf("a hidden character left in %q", got)
		}
		// A reader finds the whole name, and only it, before the first ":"
		// outside quotes.
		rest := strings.TrimPrefix(lines[0], "1970-01-01T00:00:00Z ")
		if got, ok := readName(rest); !ok || got != visibleText(name) {
			t.Errorf("line %q reads as by %q (%v), want %q", rest, got, ok, visibleText(name))
		}
	})
}

// readName reads the name that starts a message entry after its time, as a
// person reading the transcript would: up to the first colon, or a quoted
// string (\ and \" escaped) followed by one.
func readName(s string) (string, bool) {
	if !strings.HasPrefix(s, `"`) {
		name, _, ok := strings.Cut(s, ":")
		return name, ok && !strings.ContainsAny(name, " \"")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), strings.HasPrefix(s[i+1:], ":")
		default:
			b.WriteByte(s[i])
		}
	}
	return "", false
}
