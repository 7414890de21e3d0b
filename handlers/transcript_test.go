package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

// transcriptTexts are what the transcript tests post: lines, quotes and
// markup, a line posing as another entry, emoji and combining marks.
var transcriptTexts = []string{
	"hello",
	"two\nlines\n\nand one after a gap",
	`she said "<b>&amp;</b>" & left`,
	"hi\n12:00 mallory: hi",
	"hi\n2026-11-27T12:00:00Z * mallory joined the room",
	"# End of the transcript: 0 events.",
	"👩‍👩‍👧 café e\u0301\u0301 z\u0351\u0360 🇫🇷",
	"tab\tin the middle",
}

// transcriptRoom is a room with every kind of event: alice joins and posts
// transcriptTexts, "Jane Doe" joins, posts and leaves.
func transcriptRoom(t *testing.T, srv *testServer) []entry {
	t.Helper()
	alice, jane := srv.browser(t), srv.browser(t)
	want := []entry{{Kind: "join", Name: "alice"}}
	a := alice.join("lobby", "alice")
	for _, text := range transcriptTexts {
		alice.say("lobby", a, text)
		want = append(want, entry{Kind: "message", Name: "alice", Text: text})
	}
	j := jane.join("lobby", "Jane Doe")
	jane.say("lobby", j, "hi all")
	if status, _, body := jane.post("/rooms/lobby/leave", url.Values{"m": {strconv.FormatUint(j, 10)}}, nil); status != http.StatusSeeOther {
		t.Fatalf("leave: %d %s", status, body)
	}
	return append(want,
		entry{Kind: "join", Name: "Jane Doe"},
		entry{Kind: "message", Name: "Jane Doe", Text: "hi all"},
		entry{Kind: "leave", Name: "Jane Doe"})
}

// entry is one event as the tests read it back from a transcript.
type entry struct {
	Time string // RFC 3339, UTC, in seconds
	Kind string // message, join or leave
	Name string
	Text string
}

var (
	transcriptHead  = regexp.MustCompile(`^# Cloakroom transcript of #(\S+): events (\d+) to (\d+) \((\d+)\), generated (\S+), times in UTC$`)
	transcriptEntry = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (?:\* ("(?:[^"\\]|\\.)*"|[^ ":]+) (joined|left) the room|("(?:[^"\\]|\\.)*"|[^ ":]+): (.*))$`)
)

// readTranscript parses a text transcript as a strict reader: its header,
// its entries with their further lines, and its last line.
func readTranscript(t *testing.T, body string) (head []string, entries []entry, last string) {
	t.Helper()
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("the transcript does not end with a line break: %q", body)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if head = transcriptHead.FindStringSubmatch(lines[0]); head == nil {
		t.Fatalf("header %q", lines[0])
	}
	last = lines[len(lines)-1]
	if !strings.HasPrefix(last, "# ") {
		t.Fatalf("last line %q is not a note", last)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if strings.HasPrefix(l, "  ") && len(entries) > 0 && entries[len(entries)-1].Kind == "message" {
			entries[len(entries)-1].Text += "\n" + l[2:]
			continue
		}
		m := transcriptEntry.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q is neither an entry nor a further line of a message", l)
		}
		switch {
		case m[3] == "joined":
			entries = append(entries, entry{Time: m[1], Kind: "join", Name: unquoteName(t, m[2])})
		case m[3] == "left":
			entries = append(entries, entry{Time: m[1], Kind: "leave", Name: unquoteName(t, m[2])})
		default:
			entries = append(entries, entry{Time: m[1], Kind: "message", Name: unquoteName(t, m[4]), Text: m[5]})
		}
	}
	return head, entries, last
}

func unquoteName(t *testing.T, s string) string {
	t.Helper()
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	name, err := strconv.Unquote(s)
	if err != nil {
		t.Fatalf("name %s: %v", s, err)
	}
	return name
}

// historyEntries reads the room's kept events from the JSON history, as
// entries and as the JSON objects it sends.
func historyEntries(t *testing.T, b *browser, room string) ([]entry, []json.RawMessage) {
	t.Helper()
	status, _, body := b.get("/rooms/"+room+"/messages?after=1&limit=200", jsonAccept)
	if status != http.StatusOK {
		t.Fatalf("history: %d %s", status, body)
	}
	var p struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	return jsonEntries(t, p.Events), p.Events
}

func jsonEntries(t *testing.T, events []json.RawMessage) []entry {
	t.Helper()
	var out []entry
	for _, raw := range events {
		var ev struct {
			Type   string
			Member struct{ Name string }
			Text   string
			Time   time.Time
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{Time: ev.Time.Format(time.RFC3339), Kind: ev.Type, Name: ev.Member.Name, Text: ev.Text})
	}
	return out
}

func withoutTimes(es []entry) []entry {
	out := make([]entry, len(es))
	for i, e := range es {
		e.Time = ""
		out[i] = e
	}
	return out
}

// downloadTranscript fills a transcriptRoom on a server that reads 3
// records at a time, and returns what was posted, a browser, and the
// room's transcript in one form (ext).
func downloadTranscript(t *testing.T, ext string) (*testServer, []entry, *browser, string) {
	t.Helper()
	srv := newTestServer(t, chat.Config{}, Config{TranscriptBatch: 3})
	want := transcriptRoom(t, srv)
	b := srv.browser(t)
	status, _, body := b.get("/rooms/lobby/transcript."+ext, nil)
	if status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
	return srv, want, b, body
}

// The text transcript holds every kept event once, in order, as posted,
// over several batches, and nothing a member wrote reads as another entry.
func TestTranscriptText(t *testing.T) {
	srv, want, b, body := downloadTranscript(t, "txt")
	head, got, last := readTranscript(t, body)
	if diff := cmp.Diff(want, withoutTimes(got)); diff != "" {
		t.Errorf("the transcript against what was posted (-want +got):\n%s", diff)
	}
	history, _ := historyEntries(t, b, "lobby")
	if diff := cmp.Diff(history, got); diff != "" {
		t.Errorf("the transcript against the JSON history, times included (-want +got):\n%s", diff)
	}
	p, err := srv.hub.History("lobby", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	first := p.Last + 1 - uint64(len(want))
	if h := fmt.Sprintf("lobby %d %d %d", first, p.Last, len(want)); strings.Join(head[1:5], " ") != h {
		t.Errorf("header names %v, want %s", head[1:5], h)
	}
	if wantLast := fmt.Sprintf("# End of the transcript: %d events, up to event %d. Later events are not in it.", len(want), p.Last); last != wantLast {
		t.Errorf("last line %q, want %q", last, wantLast)
	}
}

// transcriptDoc is the JSON transcript, decoded strictly.
type transcriptDoc struct {
	Room      string            `json:"room"`
	Generated time.Time         `json:"generated"`
	Events    []json.RawMessage `json:"events"`
	Start     bool              `json:"start"`
	Newest    uint64            `json:"newest"`
	Complete  bool              `json:"complete"`
	Error     string            `json:"error"`
}

func decodeTranscript(t *testing.T, body []byte) transcriptDoc {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var d transcriptDoc
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document in %s", body)
	}
	return d
}

// The JSON transcript is one document whose events are, byte for byte,
// the objects the JSON history sends.
func TestTranscriptJSON(t *testing.T) {
	srv, want, b, body := downloadTranscript(t, "json")
	d := decodeTranscript(t, []byte(body))
	_, history := historyEntries(t, b, "lobby")
	if diff := cmp.Diff(history, d.Events, cmp.Transformer("string", func(m json.RawMessage) string { return string(m) })); diff != "" {
		t.Errorf("events against the JSON history's (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, withoutTimes(jsonEntries(t, d.Events))); diff != "" {
		t.Errorf("events against what was posted (-want +got):\n%s", diff)
	}
	p, err := srv.hub.History("lobby", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	end := transcriptDoc{Room: "lobby", Start: true, Newest: p.Last, Complete: true}
	if diff := cmp.Diff(end, transcriptDoc{Room: d.Room, Start: d.Start, Newest: d.Newest, Complete: d.Complete, Error: d.Error}); diff != "" {
		t.Errorf("the document's fields (-want +got):\n%s", diff)
	}
	if d.Generated.IsZero() || d.Generated.Location() != time.UTC {
		t.Errorf("generated %v, want a UTC time", d.Generated)
	}
}

// fetch sends a request with no body and returns the response and its
// body, read whole.
func fetch(t *testing.T, b *browser, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// Both forms answer GET and HEAD with the same headers, as a download, and
// the errors the history route gives.
func TestTranscriptHeaders(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	b := srv.browser(t)
	b.say("lobby", b.join("lobby", "alice"), "hi")
	date := time.Now().UTC().Format(time.DateOnly)

	type answer struct {
		Status                                           int
		ContentType, Disposition, CacheControl, Sniffing string
		Body                                             string // its start
	}
	disposition := func(ext string) string {
		name := "cloakroom-lobby-" + date + "." + ext
		return `attachment; filename="` + name + `"; filename*=UTF-8''` + name
	}
	tests := []struct {
		method, path string
		want         answer
	}{
		{"GET", "/rooms/lobby/transcript.txt", answer{200, "text/plain; charset=utf-8", disposition("txt"), "no-store", "nosniff", "# Cloakroom transcript of #lobby"}},
		{"HEAD", "/rooms/lobby/transcript.txt", answer{200, "text/plain; charset=utf-8", disposition("txt"), "no-store", "nosniff", ""}},
		{"GET", "/rooms/LOBBY/transcript.json", answer{200, "application/json", disposition("json"), "no-store", "nosniff", `{"room":"lobby"`}},
		{"HEAD", "/rooms/lobby/transcript.json", answer{200, "application/json", disposition("json"), "no-store", "nosniff", ""}},
		{"GET", "/rooms/nowhere/transcript.txt", answer{404, "text/plain; charset=UTF-8", "", "", "nosniff", "No such room."}},
		{"HEAD", "/rooms/nowhere/transcript.json", answer{404, "application/json", "", "", "nosniff", ""}},
		{"GET", "/rooms/nowhere/transcript.json", answer{404, "application/json", "", "", "nosniff", `{"error":"No such room."`}},
		{"GET", "/rooms/no%20room/transcript.txt", answer{400, "text/plain; charset=UTF-8", "", "", "nosniff", "Room names are 1 to 64 characters"}},
		{"POST", "/rooms/lobby/transcript.txt", answer{405, "text/plain; charset=UTF-8", "", "", "nosniff", "Method Not Allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := fetch(t, b, tt.method, srv.URL+tt.path)
			h := resp.Header
			got := answer{resp.StatusCode, h.Get("Content-Type"), h.Get("Content-Disposition"), h.Get("Cache-Control"), h.Get("X-Content-Type-Options"), body}
			if tt.want.Body == "" && got.Body != "" || !strings.HasPrefix(got.Body, tt.want.Body) {
				t.Errorf("body %q, want it to start with %q", got.Body, tt.want.Body)
			}
			got.Body = tt.want.Body
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// hookWriter plays a client that something happens to while the
// transcript is written: after its first write, meanwhile runs once.
type hookWriter struct {
	bytes.Buffer
	meanwhile func()
}

func (w *hookWriter) Write(p []byte) (int, error) {
	if f := w.meanwhile; f != nil && w.Len() > 0 {
		w.meanwhile = nil
		f()
	}
	return w.Buffer.Write(p)
}

// A transcript cut short by the room's end, or by retention overtaking it,
// says so in its last line (text) or its error (JSON), after what it could
// write.
func TestTranscriptCutShort(t *testing.T) {
	tests := []struct {
		name      string
		meanwhile func(t *testing.T, srv *testServer, clk *clock, alice *browser, me uint64)
		why       string
	}{
		{"the room is dropped", func(t *testing.T, srv *testServer, clk *clock, alice *browser, me uint64) {
			if status, _, body := alice.post("/rooms/lobby/leave", url.Values{"m": {strconv.FormatUint(me, 10)}}, nil); status != http.StatusSeeOther {
				t.Fatalf("leave: %d %s", status, body)
			}
			clk.Add(chat.DefaultRoomIdle)
			if err := srv.hub.Sweep(); err != nil {
				t.Fatal(err)
			}
		}, "The room was dropped while this was being written (it had no members and nothing happened in it for a while), and what it kept with it."},
		{"retention overtakes it", func(t *testing.T, srv *testServer, _ *clock, alice *browser, me uint64) {
			for i := range 20 {
				alice.say("lobby", me, fmt.Sprint("flood ", i))
			}
		}, "More was posted meanwhile than the room keeps, so the events that came next were gone before they could be written; download it again."},
	}
	forms := []struct {
		form  transcriptForm
		check func(t *testing.T, body []byte, why string, first uint64)
	}{
		{textTranscript, func(t *testing.T, body []byte, why string, first uint64) {
			_, got, last := readTranscript(t, string(body))
			if len(got) != 2 {
				t.Errorf("%d entries before the cut, want the first batch's 2", len(got))
			}
			if want := fmt.Sprintf("# Incomplete transcript: %s It stops after 2 events, at event %d.", why, first+1); last != want {
				t.Errorf("last line %q, want %q", last, want)
			}
		}},
		{jsonTranscript, func(t *testing.T, body []byte, why string, _ uint64) {
			d := decodeTranscript(t, body)
			if len(d.Events) != 2 || d.Complete || d.Error != why {
				t.Errorf("%d events, complete %v, error %q; want 2, false, %q", len(d.Events), d.Complete, d.Error, why)
			}
		}},
	}
	for _, tt := range tests {
		for _, f := range forms {
			t.Run(tt.name+"/"+f.form.ext, func(t *testing.T) {
				clk := newClock()
				srv := newTestServer(t, chat.Config{History: 10, Now: clk.Now}, Config{})
				alice := srv.browser(t)
				me := alice.join("lobby", "alice")
				for i := range 5 {
					alice.say("lobby", me, fmt.Sprint("m", i))
				}
				tr, err := srv.hub.Transcript("lobby")
				if err != nil {
					t.Fatal(err)
				}
				hw := &hookWriter{meanwhile: func() { tt.meanwhile(t, srv, clk, alice, me) }}
				w := &transcriptWriter{w: hw, rc: http.NewResponseController(httptest.NewRecorder()), at: clk.Now(), log: slog.New(slog.DiscardHandler)}
				if err := f.form.write(w, tr, 2); err != nil {
					t.Fatal(err)
				}
				f.check(t, hw.Bytes(), tt.why, tr.First)
			})
		}
	}
}

// fileNameChars are the only characters of filename="…".
var fileNameChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func TestTranscriptDisposition(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 59, 0, 0, time.FixedZone("", -3600)) // the next day in UTC
	long := strings.Repeat("é", 100)
	tests := []struct {
		room          string
		ascii, unicod string // filename, and filename* decoded
	}{
		{"lobby", "cloakroom-lobby-2026-12-01.txt", "cloakroom-lobby-2026-12-01.txt"},
		{"my.room_2-b", "cloakroom-my.room_2-b-2026-12-01.txt", "cloakroom-my.room_2-b-2026-12-01.txt"},
		{"..", "cloakroom-..-2026-12-01.txt", "cloakroom-..-2026-12-01.txt"},
		{`a"b;c d`, "cloakroom-a_b_c_d-2026-12-01.txt", `cloakroom-a"b;c d-2026-12-01.txt`},
		{`../..\etc/passwd`, "cloakroom-.._.._etc_passwd-2026-12-01.txt", `cloakroom-.._.._etc_passwd-2026-12-01.txt`},
		{"café ☕", "cloakroom-caf___-2026-12-01.txt", "cloakroom-café ☕-2026-12-01.txt"},
		{"a\r\nb\x00c", "cloakroom-a__b_c-2026-12-01.txt", "cloakroom-a__b_c-2026-12-01.txt"},
		{"evil\u202etxt.exe", "cloakroom-evil_txt.exe-2026-12-01.txt", "cloakroom-evil_txt.exe-2026-12-01.txt"},
		{"bad\xffutf8", "cloakroom-bad_utf8-2026-12-01.txt", "cloakroom-bad_utf8-2026-12-01.txt"},
		{"%41=100%", "cloakroom-_41_100_-2026-12-01.txt", "cloakroom-%41=100%-2026-12-01.txt"},
		{long, "cloakroom-" + strings.Repeat("_", 64) + "-2026-12-01.txt", "cloakroom-" + strings.Repeat("é", 64) + "-2026-12-01.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.room, func(t *testing.T) {
			v := transcriptDisposition(tt.room, at, "txt")
			disp, params, err := mime.ParseMediaType(v)
			if err != nil {
				t.Fatalf("%q does not parse: %v", v, err)
			}
			ascii, _, _ := strings.Cut(strings.TrimPrefix(v, `attachment; filename="`), `"`)
			got := []string{disp, ascii, params["filename"]}
			if diff := cmp.Diff([]string{"attachment", tt.ascii, tt.unicod}, got); diff != "" {
				t.Errorf("%s\n(-want +got):\n%s", v, diff)
			}
		})
	}
}

// FuzzTranscriptDisposition checks that whatever the room's name, the
// header parses as an attachment, its plain file name is safe ASCII of a
// bounded length, and the UTF-8 one is the room's own name but for what no
// file name should hold.
func FuzzTranscriptDisposition(f *testing.F) {
	for _, s := range []string{"lobby", `a"b;c`, "../x", "é\u202e", "\xff", "%00", strings.Repeat("x", 200)} {
		f.Add(s)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, room string) {
		v := transcriptDisposition(room, at, "json")
		disp, params, err := mime.ParseMediaType(v)
		if err != nil || disp != "attachment" {
			t.Fatalf("%q parses as %q, %v", v, disp, err)
		}
		ascii, _, _ := strings.Cut(strings.TrimPrefix(v, `attachment; filename="`), `"`)
		if !fileNameChars.MatchString(ascii) || !strings.HasPrefix(ascii, "cloakroom-") || !strings.HasSuffix(ascii, "-2026-11-30.json") || len(ascii) > len("cloakroom--2026-11-30.json")+maxFileRoom {
			t.Errorf("filename %q", ascii)
		}
		own := params["filename"]
		if !utf8.ValidString(own) || !strings.HasPrefix(own, "cloakroom-") || !strings.HasSuffix(own, "-2026-11-30.json") || utf8.RuneCountInString(own) > utf8.RuneCountInString("cloakroom--2026-11-30.json")+maxFileRoom {
			t.Errorf("filename* %q", own)
		}
		if strings.ContainsAny(own, `/\`) || strings.IndexFunc(own, func(r rune) bool {
			return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || unicode.In(r, unicode.Zl, unicode.Zp)
		}) >= 0 {
			t.Errorf("filename* %q holds a separator or hidden character", own)
		}
		if inner := strings.TrimSuffix(strings.TrimPrefix(own, "cloakroom-"), "-2026-11-30.json"); utf8.ValidString(room) && strings.IndexFunc(room, func(r rune) bool { return r == '/' || r == '\\' || fileHidden(r) }) < 0 && utf8.RuneCountInString(room) <= maxFileRoom && inner != room {
			t.Errorf("filename* carries %q, want the room's own name %q", inner, room)
		}
	})
}

// The access log of a transcript has its path and status, and no text of
// the room, at any level.
func TestTranscriptLogsNoText(t *testing.T) {
	var logs syncBuffer
	srv := newTestServer(t, chat.Config{}, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	b := srv.browser(t)
	const canary = "canary-7f3a9c"
	b.say("lobby", b.join("lobby", "alice"), canary)
	for _, ext := range []string{"txt", "json"} {
		path := "/rooms/lobby/transcript." + ext
		if status, _, body := b.get(path, nil); status != http.StatusOK || !strings.Contains(body, canary) {
			t.Fatalf("GET %s: %d %q, want 200 with the message", path, status, body)
		}
		want := "method=GET path=" + path + " status=200 "
		waitFor(t, 5*time.Second, "the request's log line", func() bool { return strings.Contains(logs.String(), want) })
	}
	if strings.Contains(logs.String(), canary) {
		t.Errorf("the message text is in the log:\n%s", logs.String())
	}
}

// Over HTTP/2 the transcript is written the same way (its write deadline
// is the stream's).
func TestTranscriptOverHTTP2(t *testing.T) {
	srv := newHTTP2TestServer(t, chat.Config{}, Config{TranscriptBatch: 2})
	want := transcriptRoom(t, srv)
	b := srv.browser(t)
	resp, body := fetch(t, b, http.MethodGet, srv.URL+"/rooms/lobby/transcript.txt")
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
	_, got, last := readTranscript(t, body)
	if diff := cmp.Diff(want, withoutTimes(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(last, "# End of the transcript: ") {
		t.Errorf("last line %q", last)
	}
}
