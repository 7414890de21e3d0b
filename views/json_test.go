package views

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

// injections are texts that try to end a data: line, start another SSE
// field, break out of a JSON string, or open a tag.
var injections = []string{
	"plain",
	"line one\nline two",
	"cr\rid: 99",
	"crlf\r\ndata: forged",
	"\n\nid: 5\nevent: reset\ndata: x",
	"ls\u2028ps\u2029end",
	"id: 7",
	"data: {\"type\":\"reset\"}",
	`quote " and \ backslash`,
	"</script><script>alert(1)</script>",
	"& <b> \x00 \t tab",
	"\"}\n{\"type\":\"message\"",
}

func TestJSONEvent(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 5, 7, 0, time.FixedZone("CET", 3600))
	members := []chat.Member{{ID: 3, Name: "alice", State: chat.Online}, {ID: 4, Name: "bob", State: chat.Idle}, {ID: 5, Name: "carol", State: chat.Away}}
	tests := []struct {
		name       string
		ev         chat.Event
		withRoster bool
		members    []chat.Member
		want       string
	}{
		{"message", chat.Event{ID: 7, Kind: chat.KindMessage, Time: at, Member: 3, Name: "alice", Text: "hi"}, false, nil,
			`{"id":7,"type":"message","room":"lobby","member":{"id":3,"name":"alice"},"text":"hi","time":"2026-11-27T08:05:07Z"}`},
		{"join with roster", chat.Event{ID: 8, Kind: chat.KindJoin, Time: at, Member: 4, Name: "bob"}, true, members,
			`{"id":8,"type":"join","room":"lobby","member":{"id":4,"name":"bob"},"time":"2026-11-27T08:05:07Z",` +
				`"members":[{"id":3,"name":"alice","state":"online"},{"id":4,"name":"bob","state":"idle"},{"id":5,"name":"carol","state":"away"}],"seq":9}`},
		{"leave with an empty roster", chat.Event{ID: 9, Kind: chat.KindLeave, Time: at, Member: 4, Name: "bob"}, true, nil,
			`{"id":9,"type":"leave","room":"lobby","member":{"id":4,"name":"bob"},"time":"2026-11-27T08:05:07Z","members":[],"seq":9}`},
		{"replayed join has no roster", chat.Event{ID: 8, Kind: chat.KindJoin, Time: at, Member: 4, Name: "bob"}, false, nil,
			`{"id":8,"type":"join","room":"lobby","member":{"id":4,"name":"bob"},"time":"2026-11-27T08:05:07Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(JSONEvent("lobby", tt.ev, tt.withRoster, tt.members, 9))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("JSONEvent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONMembersAndReset(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"members", JSONMembers("lobby", 12, []chat.Member{{ID: 3, Name: "alice", State: chat.Idle}}, 4),
			`{"id":12,"type":"presence","room":"lobby","members":[{"id":3,"name":"alice","state":"idle"}],"seq":4}`},
		{"no members", JSONMembers("lobby", 12, nil, 5), `{"id":12,"type":"presence","room":"lobby","members":[],"seq":5}`},
		{"reset", JSONReset(40, "gone\nnow"), `{"type":"reset","id":40,"message":"gone\nnow"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, string(tt.got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestJSONInjection checks that no text can break the one line an event is,
// open a tag, or change any field but its own.
func TestJSONInjection(t *testing.T) {
	for _, text := range injections {
		t.Run(text, func(t *testing.T) {
			ev := chat.Event{ID: 7, Kind: chat.KindMessage, Time: time.Unix(0, 0), Member: 3, Name: text, Text: text}
			out := JSONEvent("lobby", ev, false, nil, 0)
			if i := strings.IndexAny(string(out), "\n\r\u2028\u2029<>"); i >= 0 {
				t.Errorf("JSON holds %q at %d: %s", out[i], i, out)
			}
			var got jsonMessage
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(out, &raw); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"id", "member", "room", "text", "time", "type"}, sortedKeys(raw)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			want := jsonMessage{ID: 7, Type: "message", Text: text}
			want.Member.ID, want.Member.Name = 3, text
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// jsonMessage is what a client reads of a message.
type jsonMessage struct {
	ID     uint64 `json:"id"`
	Type   string `json:"type"`
	Member struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	} `json:"member"`
	Text string `json:"text"`
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
