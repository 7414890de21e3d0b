package views

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/cloakroom/cloakroom/chat"
)

// The text form of a room's transcript, a file to keep and read anywhere:
// a header line, one entry per event, and a last line that says whether
// the transcript is complete. Lines end in LF.
//
//	# Cloakroom transcript of #lobby: events 1001 to 1003 (3), generated 2026-11-30T21:30:00Z, times in UTC
//	2026-11-30T21:00:00Z * alice joined the room
//	2026-11-30T21:00:05Z alice: hello
//	  a second line
//	2026-11-30T21:01:00Z "Jane Doe": hi
//	# End of the transcript: 3 events, up to event 1003. Later events are not in it.
//
// Only the server writes a line's start: an entry begins with its time,
// a message's further lines with two spaces, a note with "#". So no text a
// member writes can pose as another entry or another sender:
//   - a message's line breaks (LF, CR, CRLF) continue the entry, indented;
//   - characters that some viewers break lines at, or that reorder what
//     is shown (C0 controls but tab, DEL, C1 controls, U+2028, U+2029 and
//     the bidirectional controls: marks, embeddings, overrides, isolates),
//     are written as "<U+XXXX>", visible and inert;
//   - a name is written as it is only when it is letters, marks, digits,
//     symbols such as emoji and "-_.'"; any other (a space, a colon, a
//     quote) puts it in double quotes, with \ and " escaped, so a name
//     such as `bob: hi` or `bob left the room` reads as the one name it is.
//
// The JSON form (transcript.json) carries the exact text; this form is for people.

// transcriptTime is an event's time in a transcript: RFC 3339, UTC.
const transcriptTime = time.RFC3339

// TranscriptHeader is the first line of a room's text transcript: the
// room, the ids of the first and last events it spans (first is last+1
// when there are none) and when it was made.
func TranscriptHeader(room string, first, last uint64, generated time.Time) string {
	at := generated.UTC().Format(transcriptTime)
	if first > last {
		return fmt.Sprintf("# Cloakroom transcript of #%s: no events kept, generated %s", visibleText(room), at)
	}
	return fmt.Sprintf("# Cloakroom transcript of #%s: events %d to %d (%d), generated %s, times in UTC",
		visibleText(room), first, last, last-first+1, at)
}

// TranscriptEntry is one event of a text transcript, its lines joined by
// LF: "2026-11-30T21:00:05Z alice: hello" and "  " before each further
// line of a message; "… * alice joined the room" or "… * alice left the
// room" for a join or leave.
func TranscriptEntry(ev chat.Event) string {
	var b strings.Builder
	b.WriteString(ev.Time.UTC().Format(transcriptTime))
	name := transcriptName(ev.Name)
	switch ev.Kind {
	case chat.KindMessage:
		b.WriteString(" " + name + ":")
		for i, line := range strings.Split(normalizeBreaks(ev.Text), "\n") {
			if i > 0 {
				b.WriteString("\n ")
			}
			b.WriteString(" " + visibleText(line))
		}
	case chat.KindJoin:
		b.WriteString(" * " + name + " joined the room")
	case chat.KindLeave:
		b.WriteString(" * " + name + " left the room")
	default:
		fmt.Fprintf(&b, " * event of unknown kind %d about %s", ev.Kind, name)
	}
	return b.String()
}

// TranscriptEnd is the last line of a complete text transcript of n
// events, the newest of them last.
func TranscriptEnd(n, last uint64) string {
	if n == 0 {
		return "# End of the transcript: no events."
	}
	return fmt.Sprintf("# End of the transcript: %d events, up to event %d. Later events are not in it.", n, last)
}

// TranscriptCut is the last line of a text transcript that could not be
// written to its end: why (a sentence), and how far it got: n events,
// the last written being last.
func TranscriptCut(why string, n, last uint64) string {
	if n == 0 {
		return "# Incomplete transcript: " + why + " It stops before its first event."
	}
	return fmt.Sprintf("# Incomplete transcript: %s It stops after %d events, at event %d.", why, n, last)
}

// transcriptName is a member's name as a transcript shows it: as it is, or
// quoted when it holds anything that could read as the line's structure.
func transcriptName(name string) string {
	name = visibleText(name)
	if name != "" && strings.IndexFunc(name, needsQuotes) < 0 {
		return name
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
}

func needsQuotes(r rune) bool {
	return !(unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.So) || strings.ContainsRune("-_.'", r))
}

// visibleText writes the characters that could break a line or reorder
// what is drawn as "<U+XXXX>"; invalid UTF-8 becomes U+FFFD.
func visibleText(s string) string {
	if strings.IndexFunc(s, Disruptive) < 0 && !strings.ContainsRune(s, unicode.ReplacementChar) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // an invalid byte reads as U+FFFD
		if Disruptive(r) {
			fmt.Fprintf(&b, "<U+%04X>", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Disruptive reports whether r can break a line or reorder what is drawn
// around it, unseen: a control character but tab, a line or paragraph
// separator, or a bidirectional control. A transcript shows these escaped.
func Disruptive(r rune) bool {
	return r != '\t' && unicode.IsControl(r) ||
		r == '\u2028' || r == '\u2029' ||
		unicode.Is(unicode.Bidi_Control, r)
}
