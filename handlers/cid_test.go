package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

// answer is what a poster sees of a response.
type answer struct {
	Status   int
	Location string
	Body     string
}

// nextMessage returns the stream's next message event's text, skipping
// joins and leaves.
func nextMessage(t *testing.T, s *stream) (uint64, string) {
	t.Helper()
	for {
		ev := s.next(t, 10*time.Second)
		if text := textOf(ev.data); text != "" {
			return ev.id, text
		}
	}
}

// A post sent again with its id gets the first answer, in every kind of
// client, and appears once on the stream and in the history.
func TestPostRetriedWithItsID(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	m := alice.join("lobby", "alice")
	bot := joinAsBot(t, srv, "lobby", "bot")
	s := srv.browser(t).stream("/rooms/lobby/events", nil)

	htmx := http.Header{"Hx-Request": {"true"}}
	byBrowser := func(form url.Values, h http.Header) answer {
		form.Set("m", strconv.FormatUint(m, 10))
		status, loc, body := alice.post("/rooms/lobby/messages", form, h)
		return answer{status, loc, body}
	}
	byBot := func(form url.Values, h http.Header) answer {
		r := call(t, srv, http.MethodPost, "/rooms/lobby/messages", form, h)
		return answer{r.status, r.header.Get("Location"), r.body}
	}
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		h.Set(k, v)
		return h
	}
	tests := []struct {
		name   string
		send   func(url.Values, http.Header) answer
		cid    string // the form field, if any
		header http.Header
		want   func(id uint64) answer // the answer, given the message's id
	}{
		{"htmx, form field", byBrowser, "k-1", htmx,
			func(uint64) answer { return answer{Status: http.StatusNoContent} }},
		{"htmx, Idempotency-Key", byBrowser, "", with(htmx, "Idempotency-Key", "k-2"),
			func(uint64) answer { return answer{Status: http.StatusNoContent} }},
		{"htmx, a quoted Idempotency-Key", byBrowser, "", with(htmx, "Idempotency-Key", `"k-3\"q"`),
			func(uint64) answer { return answer{Status: http.StatusNoContent} }},
		{"htmx, field and header alike", byBrowser, "k-4", with(htmx, "Idempotency-Key", "k-4"),
			func(uint64) answer { return answer{Status: http.StatusNoContent} }},
		{"a plain form", byBrowser, "k-5", nil,
			func(uint64) answer {
				return answer{Status: http.StatusSeeOther, Location: "/rooms/lobby?m=" + strconv.FormatUint(m, 10)}
			}},
		{"a bot", byBot, "", with(bearer(bot.Token), "Idempotency-Key", "k-6"),
			func(id uint64) answer {
				return answer{Status: http.StatusCreated, Body: fmt.Sprintf("{\"id\":%d}\n", id)}
			}},
		{"a bot, form field", byBot, "k-7", bearer(bot.Token),
			func(id uint64) answer {
				return answer{Status: http.StatusCreated, Body: fmt.Sprintf("{\"id\":%d}\n", id)}
			}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := fmt.Sprintf("message %d", i)
			form := func() url.Values {
				f := url.Values{"text": {text}}
				if tt.cid != "" {
					f.Set("cid", tt.cid)
				}
				return f
			}
			first := tt.send(form(), tt.header)
			again := tt.send(form(), tt.header)
			id, got := nextMessage(t, s)
			if got != text {
				t.Fatalf("the stream's next message is %q, want %q", got, text)
			}
			if diff := cmp.Diff(tt.want(id), first); diff != "" {
				t.Errorf("first answer (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(first, again); diff != "" {
				t.Errorf("the repeat's answer differs from the first (-first +repeat):\n%s", diff)
			}
			// Had the repeat been published, it would come before this.
			alice.say("lobby", m, "after "+text)
			if _, got := nextMessage(t, s); got != "after "+text {
				t.Errorf("after the repeat the stream sent %q", got)
			}
			n := 0
			for _, ev := range getJSONPage(t, alice, "/rooms/lobby/messages?limit=200").Events {
				if ev.Text == text {
					n++
				}
			}
			if n != 1 {
				t.Errorf("the history holds the message %d times", n)
			}
		})
	}
}

// The same id from two members is two messages: one member's ids can
// neither return nor block another's messages.
func TestClientIDsAreEachMembersOwn(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice, bob := srv.browser(t), srv.browser(t)
	am, bm := alice.join("lobby", "alice"), bob.join("lobby", "bob")
	s := srv.browser(t).stream("/rooms/lobby/events", nil)
	htmx := http.Header{"Hx-Request": {"true"}, "Idempotency-Key": {"same"}}
	for _, p := range []struct {
		b    *browser
		m    uint64
		text string
	}{{alice, am, "from alice"}, {bob, bm, "from bob"}} {
		status, _, body := p.b.post("/rooms/lobby/messages", url.Values{"text": {p.text}, "m": {strconv.FormatUint(p.m, 10)}}, htmx)
		if status != http.StatusNoContent {
			t.Fatalf("%s: %d %s", p.text, status, body)
		}
	}
	var got []string
	for range 2 {
		_, text := nextMessage(t, s)
		got = append(got, text)
	}
	if diff := cmp.Diff([]string{"from alice", "from bob"}, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// An id is remembered while the room keeps its message; after retention
// dropped the message, the id posts again.
func TestClientIDAfterRetention(t *testing.T) {
	srv := newTestServer(t, chat.Config{History: 3}, Config{})
	alice := srv.browser(t)
	m := alice.join("lobby", "alice")
	s := srv.browser(t).stream("/rooms/lobby/events", nil)
	post := func(text, cid string) {
		t.Helper()
		status, _, body := alice.post("/rooms/lobby/messages", url.Values{"text": {text}, "m": {strconv.FormatUint(m, 10)}},
			http.Header{"Hx-Request": {"true"}, "Idempotency-Key": {cid}})
		if status != http.StatusNoContent {
			t.Fatalf("post %q: %d %s", text, status, body)
		}
	}
	post("hello", "c-1")
	first, _ := nextMessage(t, s)
	for i := range 3 {
		post(fmt.Sprint("filler ", i), fmt.Sprint("f-", i))
		nextMessage(t, s)
	}
	post("hello", "c-1")
	id, text := nextMessage(t, s)
	if text != "hello" || id != first+4 {
		t.Errorf("after retention the id posted %q as %d; want hello as a new message, %d", text, id, first+4)
	}
}

// Malformed ids, ids that disagree, and an id used again for other text
// are refused, say why in one line, and publish nothing.
func TestClientIDRefused(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	m := strconv.FormatUint(alice.join("lobby", "alice"), 10)
	bot := joinAsBot(t, srv, "lobby", "bot")
	s := srv.browser(t).stream("/rooms/lobby/events", nil)
	htmx := http.Header{"Hx-Request": {"true"}}
	if status, _, body := alice.post("/rooms/lobby/messages", url.Values{"text": {"first"}, "m": {m}, "cid": {"used"}}, htmx); status != http.StatusNoContent {
		t.Fatalf("first post: %d %s", status, body)
	}
	if _, text := nextMessage(t, s); text != "first" {
		t.Fatalf("stream sent %q", text)
	}

	malformed := "The message id (form field cid, or header Idempotency-Key) must be 1 to 64 characters of visible ASCII (! to ~), with no spaces.\n"
	differ := "The message id is given more than once (cid, Idempotency-Key) with different values; send it once.\n"
	tests := []struct {
		name   string
		cids   []string // form fields
		keys   []string // Idempotency-Key headers
		text   string
		bot    bool
		status int
		body   string
	}{
		{"an empty field", []string{""}, nil, "x", false, http.StatusBadRequest, malformed},
		{"an empty header", nil, []string{""}, "x", false, http.StatusBadRequest, malformed},
		{"a space", []string{"a b"}, nil, "x", false, http.StatusBadRequest, malformed},
		{"65 characters", []string{strings.Repeat("k", 65)}, nil, "x", false, http.StatusBadRequest, malformed},
		{"non-ASCII", nil, []string{"clé"}, "x", false, http.StatusBadRequest, malformed},
		{"an unclosed quote", nil, []string{`"abc`}, "x", false, http.StatusBadRequest, malformed},
		{"a quoted string with more after it", nil, []string{`"abc";p=1`}, "x", false, http.StatusBadRequest, malformed},
		{"a quoted empty string", nil, []string{`""`}, "x", false, http.StatusBadRequest, malformed},
		{"field and header differ", []string{"a"}, []string{"b"}, "x", false, http.StatusBadRequest, differ},
		{"two fields differ", []string{"a", "b"}, nil, "x", false, http.StatusBadRequest, differ},
		{"two headers differ", nil, []string{"a", "b"}, "x", false, http.StatusBadRequest, differ},
		{"a used id with other text", []string{"used"}, nil, "second", false, http.StatusUnprocessableEntity,
			"This message id was already used for a different message; a message sent again must carry the same text.\n"},
		{"a bot's malformed id", nil, []string{"a b"}, "x", true, http.StatusBadRequest,
			`{"error":"` + strings.TrimSuffix(malformed, "\n") + `","field":"cid"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"text": {tt.text}, "cid": tt.cids}
			h := htmx.Clone()
			if tt.bot {
				h = bearer(bot.Token)
			}
			h["Idempotency-Key"] = tt.keys
			var status int
			var body string
			if tt.bot {
				r := call(t, srv, http.MethodPost, "/rooms/lobby/messages", form, h)
				status, body = r.status, r.body
			} else {
				form.Set("m", m)
				status, _, body = alice.post("/rooms/lobby/messages", form, h)
			}
			if status != tt.status || body != tt.body {
				t.Errorf("%d %q, want %d %q", status, body, tt.status, tt.body)
			}
		})
	}
	alice.say("lobby", 0, "last")
	if _, text := nextMessage(t, s); text != "last" {
		t.Errorf("a refused post was published: %q", text)
	}
}

// quoteSF writes s as a Structured Fields string.
func quoteSF(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func TestUnquote(t *testing.T) {
	tests := []struct {
		in, out string
		ok      bool
	}{
		{`"abc"`, "abc", true},
		{`"a\"b\\c"`, `a"b\c`, true},
		{`""`, "", true},
		{`"a b"`, "a b", true}, // a string may hold spaces; ClientID refuses them
		{`"a\b"`, "", false},
		{`"a"b"`, "", false},
		{`"abc\"`, "", false},
		{`"é"`, "", false},
		{`"a` + "\t" + `"`, "", false},
		{`"`, "", false},
		{`abc`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			out, ok := unquote(tt.in)
			if out != tt.out || ok != tt.ok {
				t.Errorf("unquote(%s) = %q, %v; want %q, %v", tt.in, out, ok, tt.out, tt.ok)
			}
		})
	}
}

// FuzzClientID: whatever a client sends as cid and Idempotency-Key, an id
// taken is valid and is what the client sent (unquoted), in each place it
// sent one; a refusal takes nothing; a valid id is taken from either place,
// bare or quoted.
func FuzzClientID(f *testing.F) {
	for _, s := range []string{"k-1", `"k-1"`, `"a\"b"`, "", "a b", `"`, strings.Repeat("x", 65), "clé", `"a";b`} {
		f.Add(s, s, true, true)
		f.Add(s, "k-1", true, false)
	}
	f.Fuzz(func(t *testing.T, field, header string, hasField, hasHeader bool) {
		var fields, headers []string
		if hasField {
			fields = []string{field}
		}
		if hasHeader {
			headers = []string{header}
		}
		got, err := clientID(fields, headers)
		if err != nil {
			if got != "" || err != errClientID && err != errClientIDs {
				t.Fatalf("clientID(%q, %q) = %q, %v", fields, headers, got, err)
			}
		} else {
			if (got == "") != (!hasField && !hasHeader) {
				t.Fatalf("clientID(%q, %q) = %q", fields, headers, got)
			}
			if got != "" {
				if _, err := chat.ClientID(got); err != nil {
					t.Fatalf("clientID(%q, %q) took %q, which chat refuses", fields, headers, got)
				}
			}
			if hasField && got != field {
				t.Fatalf("clientID(%q, %q) = %q, not the field", fields, headers, got)
			}
			if hasHeader && got != header {
				if u, ok := unquote(header); !ok || u != got {
					t.Fatalf("clientID(%q, %q) = %q, not the header", fields, headers, got)
				}
			}
		}
		if _, err := chat.ClientID(field); err == nil {
			hs := []string{quoteSF(field)}
			if !strings.HasPrefix(field, `"`) { // else read as a quoted string
				hs = append(hs, field)
			}
			for _, h := range hs {
				if got, err := clientID(nil, []string{h}); got != field || err != nil {
					t.Fatalf("clientID(header %q) = %q, %v; want %q", h, got, err, field)
				}
			}
			if got, err := clientID([]string{field}, nil); got != field || err != nil {
				t.Fatalf("clientID(field %q) = %q, %v", field, got, err)
			}
		}
	})
}
