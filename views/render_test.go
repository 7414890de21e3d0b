package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/cloakroom/cloakroom/chat"
)

func renderString(t *testing.T, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestEventItem(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 5, 0, 0, time.UTC)
	tests := []struct {
		name string
		ev   chat.Event
		me   uint64
		want []string
		not  []string
	}{
		{"message", chat.Event{ID: 7, Kind: chat.KindMessage, Time: at, Member: 3, Name: "<alice>", Text: "a <b>\nhttps://e.com/x"},
			0, []string{`id="e7"`, `class="msg"`, `data-member="3"`, `&lt;alice&gt;`, "a &lt;b&gt;\n", `<a href="https://e.com/x" rel="noopener noreferrer nofollow ugc"`, `datetime="2026-11-27T09:05:00Z"`, "09:05 UTC"},
			[]string{"<b>", "<alice>", "own"}},
		{"own message", chat.Event{ID: 8, Kind: chat.KindMessage, Time: at, Member: 3, Name: "alice", Text: "hi"},
			3, []string{`class="msg own"`}, nil},
		{"join", chat.Event{ID: 9, Kind: chat.KindJoin, Time: at, Member: 4, Name: "bob"},
			0, []string{`class="notice join"`, `<span class="author">bob</span> joined the room`}, nil},
		{"leave", chat.Event{ID: 10, Kind: chat.KindLeave, Time: at, Member: 4, Name: "bob"},
			0, []string{`class="notice leave"`, `<span class="author">bob</span> left the room`}, nil},
	}
	for _, tt := range tests {
		got := renderString(t, EventItem(tt.ev, tt.me))
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: %q holds %q", tt.name, got, n)
			}
		}
	}
	if got := renderString(t, EventItem(chat.Event{ID: 11, Kind: chat.KindMembers, Member: 4, Name: "bob"}, 0)); got != "" {
		t.Errorf("a member-list update has a log entry: %q", got)
	}
}

func TestMemberList(t *testing.T) {
	members := []chat.Member{{ID: 1, Name: "alice", State: chat.Online}, {ID: 2, Name: "bob"}, {ID: 3, Name: "carol", State: chat.Idle}}
	page := renderString(t, MemberList(members, 7, 2, false))
	oob := renderString(t, MemberList(members, 7, 0, true))
	for _, w := range []string{
		`data-seq="7"`,
		`<li class="member online" data-member="1">`, `<span class="state">online</span>`,
		`<li class="member away me" data-member="2">`, `<span class="state">away</span>`,
		`<li class="member idle" data-member="3">`, `<span class="state">idle</span>`,
	} {
		if !strings.Contains(page, w) {
			t.Errorf("page list %q lacks %q", page, w)
		}
	}
	if strings.Contains(page, "hx-swap-oob") || !strings.Contains(oob, `hx-swap-oob="true"`) || strings.Contains(oob, " me\"") {
		t.Errorf("out-of-band marking wrong: page %q, stream %q", page, oob)
	}
	if strings.ContainsRune(oob, '\n') {
		t.Error("a stream fragment has a newline of its own")
	}
}
