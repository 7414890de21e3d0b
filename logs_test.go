package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startLogged runs Cloakroom with flags and returns its base URL, its log
// and its stop function (see startRun).
func startLogged(t *testing.T, flags ...string) (string, *logBuffer, func() error) {
	t.Helper()
	st := startRun(t, startSpec{flags: flags})
	return st.base, st.stderr, st.stop
}

// Canaries: what a request may carry and the log must never hold.
const (
	canaryText      = "canary-text-5b1f9e"        // a message's text
	canaryBotText   = "canary-bot-text-0c7d2a"    // a bot's message's text
	canaryQueryName = "Qcanaryqueryname"          // a name in a query string
	canaryName      = "Fcanaryformname"           // a name joined with
	canaryCookie    = "canary-cookie-value-a43e"  // a cookie the server does not use
	canaryToken     = "canary0token0d8e4c21b9f07" // a bearer token nobody holds
	clientID        = "client-id.7:Stream_x"      // a sane X-Request-ID the stream sends
)

// loggedRequest is one request of the scenario: the id its response
// carried, and what its access line must say.
type loggedRequest struct {
	id, method, path string
	status           int
}

// scenario is what a server was sent, for the log checks: each request,
// and the secrets the server made (the session cookie, the bot's token).
type scenario struct {
	requests []loggedRequest
	secrets  []string
}

// exchange sends req and checks its status; the body is returned read.
func (s *scenario) exchange(t *testing.T, c *http.Client, req *http.Request, status int) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d %.200q, want %d", req.Method, req.URL.Path, resp.StatusCode, b, status)
	}
	s.requests = append(s.requests, loggedRequest{resp.Header.Get("X-Request-ID"), req.Method, req.URL.Path, status})
	return resp, string(b)
}

// newRequest makes a request with form, if not nil, as its body, and the
// header's fields.
func newRequest(t *testing.T, method, target string, form url.Values, header http.Header) *http.Request {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return req
}

// rawRequestID sends GET /healthz with headerLine as it is (net/http's
// client would refuse some) and returns the response's X-Request-ID.
func rawRequestID(t *testing.T, base, headerLine string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n", headerLine)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz with %q: %d", headerLine, resp.StatusCode)
	}
	return resp.Header.Get("X-Request-ID")
}

var madeRequestID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// runScenario joins, streams, posts, reads history and the transcript,
// joins a bot, is refused (400, 401, 404, 429, 503) and leaves, against a
// server started with --max-rooms 1 and a client post burst of 4 (other
// limits off).
func runScenario(t *testing.T, base string) *scenario {
	s := &scenario{}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	alice := &http.Client{Jar: jar, CheckRedirect: noRedirect, Timeout: 10 * time.Second}
	bots := &http.Client{Timeout: 10 * time.Second}
	htmx := http.Header{"Hx-Request": {"true"}}
	asJSON := http.Header{"Accept": {"application/json"}}

	// The join page with a name in its query, and a cookie nobody set.
	s.exchange(t, alice, newRequest(t, http.MethodGet, base+"/?room=lobby&username="+canaryQueryName, nil,
		http.Header{"Cookie": {"other=" + canaryCookie}}), http.StatusOK)
	resp, _ := s.exchange(t, alice, newRequest(t, http.MethodPost, base+"/join?username="+canaryQueryName,
		url.Values{"username": {canaryName}, "room": {"lobby"}}, nil), http.StatusSeeOther)
	_, m, ok := strings.Cut(resp.Header.Get("Location"), "m=")
	if !ok {
		t.Fatalf("join: Location %q", resp.Header.Get("Location"))
	}
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		s.secrets = append(s.secrets, c.Value)
	}

	// A stream with an id of the client's own, kept open while the rest
	// happens, and closed by the client at the end.
	ctx, closeStream := context.WithTimeout(context.Background(), 30*time.Second)
	defer closeStream()
	req := newRequest(t, http.MethodGet, base+"/rooms/lobby/events?format=text&since=0&m="+m, nil,
		http.Header{"X-Request-ID": {clientID}})
	stream, err := alice.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if got := stream.Header.Get("X-Request-ID"); stream.StatusCode != http.StatusOK || got != clientID {
		t.Fatalf("stream: %d, X-Request-ID %q, want 200 and the client's %q", stream.StatusCode, got, clientID)
	}
	s.requests = append(s.requests, loggedRequest{clientID, http.MethodGet, "/rooms/lobby/events", http.StatusOK})
	events := bufio.NewReader(stream.Body)
	waitForLine := func(what string) {
		t.Helper()
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("the stream ended before %q: %v", what, err)
			}
			if strings.Contains(line, what) {
				return
			}
		}
	}

	resp, line := s.exchange(t, alice, newRequest(t, http.MethodPost, base+"/rooms/lobby/messages",
		url.Values{"text": {" "}, "m": {m}}, htmx), http.StatusBadRequest)
	if id := resp.Header.Get("X-Request-ID"); line != "The message is empty. (request "+id+")\n" {
		t.Errorf("the 400's line is %q, want it to end with its X-Request-ID %s", line, id)
	}
	s.exchange(t, alice, newRequest(t, http.MethodPost, base+"/rooms/lobby/messages",
		url.Values{"text": {canaryText}, "m": {m}}, htmx), http.StatusNoContent)
	waitForLine(canaryText)
	s.exchange(t, alice, newRequest(t, http.MethodGet, base+"/rooms/lobby/messages", nil, nil), http.StatusOK)
	if _, transcript := s.exchange(t, alice, newRequest(t, http.MethodGet, base+"/rooms/lobby/transcript.txt", nil, nil), http.StatusOK); !strings.Contains(transcript, canaryText) {
		t.Errorf("the transcript lacks the message:\n%s", transcript)
	}

	// A bot joins, posts, and posts on until its client is refused.
	_, body := s.exchange(t, bots, newRequest(t, http.MethodPost, base+"/join",
		url.Values{"username": {"robo"}, "room": {"lobby"}}, asJSON), http.StatusCreated)
	var bot struct{ Token string }
	if err := json.Unmarshal([]byte(body), &bot); err != nil || bot.Token == "" {
		t.Fatalf("bot join: %q %v", body, err)
	}
	s.secrets = append(s.secrets, bot.Token)
	asBot := http.Header{"Authorization": {"Bearer " + bot.Token}}
	botPost := func() *http.Response {
		req := newRequest(t, http.MethodPost, base+"/rooms/lobby/messages", url.Values{"text": {canaryBotText}}, asBot)
		resp, err := bots.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.requests = append(s.requests, loggedRequest{resp.Header.Get("X-Request-ID"), req.Method, req.URL.Path, resp.StatusCode})
		return resp
	}
	if resp := botPost(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("the bot's post: %d", resp.StatusCode)
	}
	waitForLine(canaryBotText)
	// The client's burst (4) is spent within 4 more posts.
	for i := 0; botPost().StatusCode != http.StatusTooManyRequests; i++ {
		if i == 4 {
			t.Fatal("no 429 after the client's burst")
		}
	}

	// Refusals: a stranger's token, no such page, and a
	// second room past --max-rooms 1.
	s.exchange(t, bots, newRequest(t, http.MethodPost, base+"/rooms/lobby/leave", url.Values{},
		http.Header{"Authorization": {"Bearer " + canaryToken}}), http.StatusUnauthorized)
	resp, page := s.exchange(t, alice, newRequest(t, http.MethodGet, base+"/nowhere", nil,
		http.Header{"Accept": {"text/html"}}), http.StatusNotFound)
	if id := resp.Header.Get("X-Request-ID"); !strings.Contains(page, `<code class="request-id">`+id+`</code>`) {
		t.Errorf("the 404 page does not show its X-Request-ID %s:\n%s", id, page)
	}
	s.exchange(t, bots, newRequest(t, http.MethodPost, base+"/join?username="+canaryQueryName,
		url.Values{"username": {canaryName}, "room": {"second"}}, nil), http.StatusServiceUnavailable)

	// Ids a client may not choose are replaced.
	for _, line := range []string{
		"X-Request-ID: " + strings.Repeat("insane", 11) + "\r\n",
		"X-Request-ID: insane\r\n\tmsg=insane-folded\r\n",
		"X-Request-ID: \"insane-quoted\"\r\n",
		"X-Request-ID: insané\r\n",
	} {
		id := rawRequestID(t, base, line)
		if !madeRequestID.MatchString(id) {
			t.Errorf("sent %q, X-Request-ID %q: want a new id of 16 hex digits", line, id)
		}
		s.requests = append(s.requests, loggedRequest{id, http.MethodGet, "/healthz", http.StatusOK})
	}

	s.exchange(t, bots, newRequest(t, http.MethodPost, base+"/rooms/lobby/leave", url.Values{}, asBot), http.StatusNoContent)
	s.exchange(t, alice, newRequest(t, http.MethodPost, base+"/rooms/lobby/leave", url.Values{"m": {m}}, nil), http.StatusSeeOther)
	return s
}

// Lines that belong to no request: the server's start and shutdown.
var serverLines = map[string]bool{"listening": true, "shutting down": true}

// The log, as text and as JSON lines, has the request's id on every line
// of a request, a client's sane X-Request-ID in place of one made (on the
// stream's line written after it ended, too), and never a message's text,
// a name, a cookie or a token, at debug level and through shutdown.
func TestRequestLogs(t *testing.T) {
	flags := append([]string{"--log-level", "debug", "--max-rooms", "1", "--client-post-burst", "4", "--client-post-rate", "0.001"},
		"--client-streams", "0", "--client-joins", "0", "--member-post-rate", "0")
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			base, logs, stop := startLogged(t, append(flags, "--log-format", format)...)
			s := runScenario(t, base)
			// The stream ended when the scenario returned; its last line
			// comes from its own goroutine.
			waitForLog(t, logs, "the stream's end", func(l logLine) bool {
				return l.msg == "stream ended" && l.requestID == clientID
			}, format)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			all := logs.String()
			lines := parseLog(t, all, format)

			for _, l := range lines {
				if !serverLines[l.msg] && l.requestID == "" {
					t.Errorf("a line without request_id: %s", l.raw)
				}
			}
			for _, r := range s.requests {
				if !hasLine(lines, func(l logLine) bool {
					return l.msg == "request" && l.requestID == r.id && l.method == r.method && l.path == r.path && l.status == r.status
				}) {
					t.Errorf("no access line for %s %s %d with request_id %s", r.method, r.path, r.status, r.id)
				}
			}
			for _, want := range []struct {
				msg    string
				status int
			}{
				{"request refused", 429}, {"request refused", 401}, {"request refused", 404}, {"request refused", 503},
			} {
				if !hasLine(lines, func(l logLine) bool { return l.msg == want.msg && l.status == want.status && l.requestID != "" }) {
					t.Errorf("no %q line for %d with a request_id", want.msg, want.status)
				}
			}
			for _, secret := range append(s.secrets, canaryText, canaryBotText, canaryQueryName, canaryName, canaryCookie, canaryToken, "insane") {
				if strings.Contains(all, secret) {
					t.Errorf("the log holds %q:\n%s", secret, all)
				}
			}
			if len(s.secrets) < 2 {
				t.Errorf("the session cookie or the bot's token was not kept to look for: %d secrets", len(s.secrets))
			}
		})
	}
}

// logLine is what the tests read of one log line.
type logLine struct {
	raw                          string
	msg, requestID, method, path string
	status                       int
}

// textField reads key=value (quoted or not) from a text log line.
var textField = regexp.MustCompile(`(?:^| )([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ ]*)`)

// parseLog reads a log, every line of which must parse: JSON lines with
// json.Unmarshal, text lines as key=value pairs.
func parseLog(t *testing.T, log, format string) []logLine {
	t.Helper()
	var lines []logLine
	for _, raw := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		l := logLine{raw: raw}
		fields := map[string]any{}
		if format == "json" {
			if err := json.Unmarshal([]byte(raw), &fields); err != nil {
				t.Errorf("not a JSON line (%v): %s", err, raw)
				continue
			}
		} else {
			for _, m := range textField.FindAllStringSubmatch(raw, -1) {
				v := m[2]
				if strings.HasPrefix(v, `"`) {
					if err := json.Unmarshal([]byte(v), &v); err != nil {
						t.Errorf("a quoted value that does not parse (%v): %s", err, raw)
					}
				}
				fields[m[1]] = v
			}
			if _, ok := fields["time"]; !ok {
				t.Errorf("not a text log line: %s", raw)
			}
		}
		l.msg, _ = fields["msg"].(string)
		l.requestID, _ = fields["request_id"].(string)
		l.method, _ = fields["method"].(string)
		l.path, _ = fields["path"].(string)
		switch v := fields["status"].(type) {
		case float64:
			l.status = int(v)
		case string:
			_, _ = fmt.Sscan(v, &l.status)
		}
		lines = append(lines, l)
	}
	return lines
}

func hasLine(lines []logLine, ok func(logLine) bool) bool {
	for _, l := range lines {
		if ok(l) {
			return true
		}
	}
	return false
}

// waitForLog waits until the log has a line for which ok holds.
func waitForLog(t *testing.T, logs *logBuffer, what string, ok func(logLine) bool, format string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !hasLine(parseLog(t, logs.String(), format), ok) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for %s:\n%s", what, logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not ordering
	}
}

// --log-format and CLOAKROOM_LOG_FORMAT choose text or JSON, in any case;
// anything else is an error naming where it came from.
func TestLogFormatOption(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  string
		want logFormat
		err  string
	}{
		{"default", nil, "", "text", ""},
		{"flag", []string{"--log-format", "json"}, "", "json", ""},
		{"environment, in capitals", nil, "JSON", "json", ""},
		{"the flag wins", []string{"--log-format", "text"}, "json", "text", ""},
		{"a bad flag", []string{"--log-format", "logfmt"}, "", "", `invalid value "logfmt" for flag -log-format: must be text or json`},
		{"a bad environment", nil, "yaml", "", `CLOAKROOM_LOG_FORMAT="yaml": must be text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) string {
				if k == "CLOAKROOM_LOG_FORMAT" {
					return tt.env
				}
				return ""
			}
			o, err := parseOptions(tt.args, env, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || o.logFormat != tt.want {
				t.Errorf("%q, %v; want %q", o.logFormat, err, tt.want)
			}
		})
	}
}

// A path is logged as the server decoded it, so a client chooses its bytes:
// line breaks, ANSI escapes, quotes, invalid UTF-8. In either format each
// stays inside the path field, escaped: the log has one line per request
// and every line parses, with no control character left in it to forge a
// line or recolour a terminal (the JSON log wrote DEL and C1 controls such
// as U+009B, a CSI, raw).
func TestLoggedPathCannotForgeALine(t *testing.T) {
	paths := []struct {
		raw, decoded string
		json         string // the path's JSON value decoded, where not decoded
	}{
		{"/a%0Atime=2026-01-01T00:00:00Z%20level=ERROR%20msg=forged", "/a\ntime=2026-01-01T00:00:00Z level=ERROR msg=forged", ""},
		{"/a%0D%0A%7B%22level%22:%22ERROR%22%7D", "/a\r\n{\"level\":\"ERROR\"}", ""},
		{"/a%1B[31mred%1B[0m%1B]0;title%07", "/a\x1b[31mred\x1b[0m\x1b]0;title\a", ""},
		{"/a%22%20status=200%20x=%22", "/a\" status=200 x=\"", ""},
		// DEL and C1 controls (NEL, CSI) are written escaped in JSON too.
		{"/a%00%7F%C2%85%C2%9B31m", "/a\x00\x7f\u0085\u009b31m", `/a` + "\x00" + `\u007f\u0085\u009b31m`},
		{"/a%FF", "/a\xff", ""},
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			base, logs, stop := startLogged(t, "--log-format", format, "--log-level", "debug")
			for _, p := range paths {
				conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", p.raw); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatalf("GET %s: %v", p.raw, err)
				}
				resp.Body.Close()
				conn.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: %d, want 404", p.raw, resp.StatusCode)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			all := logs.String()
			if i := strings.IndexFunc(all, func(r rune) bool { return r != '\n' && (r < 0x20 || 0x7f <= r && r <= 0x9f) }); i >= 0 {
				t.Errorf("a control character in the log at byte %d:\n%q", i, all)
			}
			var got []string // the paths of the access lines, decoded
			for _, raw := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
				path, isRequest := loggedPath(t, raw, format)
				if isRequest {
					got = append(got, path)
				}
			}
			want := make([]string, len(paths))
			for i, p := range paths {
				want[i] = strings.ToValidUTF8(p.decoded, "\uFFFD")
				if format == "json" && p.json != "" {
					want[i] = p.json
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("paths of the access lines (-want +got)\n%s\nlog:\n%s", diff, all)
			}
		})
	}
}

// loggedPath reads one log line, which must parse, and returns its path if
// it is an access line (msg=request). Text values are unquoted as Go
// quotes them (slog's text handler uses strconv.Quote).
func loggedPath(t *testing.T, raw, format string) (string, bool) {
	t.Helper()
	if format == "json" {
		var l struct{ Msg, Path string }
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Errorf("not a JSON line (%v): %q", err, raw)
		}
		return l.Path, l.Msg == "request"
	}
	fields := map[string]string{}
	for _, m := range textField.FindAllStringSubmatch(raw, -1) {
		v := m[2]
		if strings.HasPrefix(v, `"`) {
			var err error
			if v, err = strconv.Unquote(v); err != nil {
				t.Errorf("a quoted value that does not unquote (%v): %q", err, raw)
			}
		}
		fields[m[1]] = v
	}
	if !strings.HasPrefix(raw, "time=") {
		t.Errorf("not a text log line: %q", raw)
	}
	return strings.ToValidUTF8(fields["path"], "\uFFFD"), fields["msg"] == "request"
}
