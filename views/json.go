package views

import (
	"encoding/json"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

// The JSON form of a room's events, for the stream's ?format=json. Each
// function returns one JSON object with no line break in it: encoding/json
// writes a line break, CR, U+2028 and U+2029 inside a string as an escape,
// and <, > and & as \u003c, \u003e and \u0026, so no text can end the data:
// line it travels on or open a tag where the object is pasted into HTML.

// jsonMember is a member as a JSON event names it.
type jsonMember struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

// jsonListed is a member as a JSON member list shows it; State is "online",
// "idle" or "away".
type jsonListed struct {
	ID    uint64 `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

// jsonRoster is the member list after a change, and its place in the
// room's sequence of lists.
type jsonRoster struct {
	Members []jsonListed `json:"members"`
	Seq     uint64       `json:"seq"`
}

type jsonEvent struct {
	ID     uint64      `json:"id"`
	Type   string      `json:"type"`
	Room   string      `json:"room"`
	Member *jsonMember `json:"member,omitempty"`
	Text   string      `json:"text,omitempty"`
	Time   time.Time   `json:"time,omitzero"`
	// A nil roster leaves members and seq out: a message, or a join or
	// leave replayed from history, where the list of the time is not kept.
	*jsonRoster
}

// JSONEvent is a history event as JSON:
//
//	{"id":7,"type":"message","room":"lobby","member":{"id":3,"name":"alice"},"text":"hi","time":"2026-11-27T12:00:00Z"}
//
// type is "message", "join" or "leave"; time is RFC 3339 in UTC. A join or
// leave with a roster (withRoster) also carries "members" (see JSONMembers)
// and "seq".
func JSONEvent(room string, ev chat.Event, withRoster bool, members []chat.Member, seq uint64) []byte {
	out := jsonEvent{
		ID:     ev.ID,
		Type:   kindName(ev.Kind),
		Room:   room,
		Member: &jsonMember{ID: ev.Member, Name: ev.Name},
		Time:   ev.Time.UTC(),
	}
	if ev.Kind == chat.KindMessage {
		out.Text = ev.Text
	}
	if withRoster {
		out.jsonRoster = roster(members, seq)
	}
	return mustJSON(out)
}

// JSONMembers is the member list after a change of presence, as JSON:
//
//	{"id":7,"type":"presence","room":"lobby","members":[{"id":3,"name":"alice","state":"online"}],"seq":4}
//
// id repeats the room's newest event's.
func JSONMembers(room string, id uint64, members []chat.Member, seq uint64) []byte {
	return mustJSON(jsonEvent{ID: id, Type: "presence", Room: room, jsonRoster: roster(members, seq)})
}

// JSONReset is the data of a reset event: {"type":"reset","id":N,"message":"..."}.
func JSONReset(id uint64, message string) []byte {
	return mustJSON(struct {
		Type    string `json:"type"`
		ID      uint64 `json:"id"`
		Message string `json:"message"`
	}{"reset", id, message})
}

func roster(members []chat.Member, seq uint64) *jsonRoster {
	r := &jsonRoster{Members: make([]jsonListed, len(members)), Seq: seq}
	for i, m := range members {
		r.Members[i] = jsonListed{ID: m.ID, Name: m.Name, State: m.State.String()}
	}
	return r
}

// kindName is the type of a history event in the JSON and text forms.
func kindName(k chat.Kind) string {
	switch k {
	case chat.KindMessage:
		return "message"
	case chat.KindJoin:
		return "join"
	case chat.KindLeave:
		return "leave"
	}
	return "unknown"
}

// mustJSON marshals values whose every field is a string, number, time or
// slice of those, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
