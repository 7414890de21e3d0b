package views

import (
	"strings"

	"github.com/cloakroom/cloakroom/chat"
)

// The plain-text form of a room's events, for the stream's ?format=text,
// readable under curl -N. Each function returns lines joined by LF; the
// stream sends each line as a data: line of its own.
//
// A message's further lines are indented by two spaces, so no line of text
// can pass for another member's message ("15:04 bob: ...") or a join; CR, CRLF
// and LF all count as line breaks, since a bare CR ends a line for an SSE
// reader too. Names cannot hold line breaks (chat.Nickname), but are kept to
// one line here all the same.

// plainClock is the time of day an event shows, in UTC.
const plainClock = "15:04"

// PlainEvent is a history event as text: "15:04 alice: hello" for a
// message, "15:04 * alice joined the room" or "15:04 * alice left the room"
// for a join or leave. The clock is UTC.
func PlainEvent(ev chat.Event) string {
	var b strings.Builder
	b.WriteString(ev.Time.UTC().Format(plainClock))
	switch ev.Kind {
	case chat.KindMessage:
		b.WriteByte(' ')
		b.WriteString(oneLine(ev.Name))
		b.WriteString(":")
		for i, line := range strings.Split(normalizeBreaks(ev.Text), "\n") {
			if i > 0 {
				b.WriteString("\n ")
			}
			b.WriteByte(' ')
			b.WriteString(line)
		}
	case chat.KindJoin:
		b.WriteString(" * ")
		b.WriteString(oneLine(ev.Name))
		b.WriteString(" joined the room")
	case chat.KindLeave:
		b.WriteString(" * ")
		b.WriteString(oneLine(ev.Name))
		b.WriteString(" left the room")
	}
	return b.String()
}

// PlainMembers is a member list as one line: "members: alice (online), bob
// (idle)", or "members: nobody".
func PlainMembers(members []chat.Member) string {
	if len(members) == 0 {
		return "members: nobody"
	}
	var b strings.Builder
	b.WriteString("members: ")
	for i, m := range members {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(oneLine(m.Name))
		b.WriteString(" (")
		b.WriteString(m.State.String())
		b.WriteString(")")
	}
	return b.String()
}

// normalizeBreaks turns CRLF and CR into LF.
func normalizeBreaks(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// oneLine turns any line break in s into a space.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}
