package handlers

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
)

// madeID is the shape of a request id the server makes.
var madeID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// rawGet sends GET path over a new TCP connection with the header lines
// given as they are (so they may hold what net/http's client refuses to
// send) and returns the response, its body read.
func rawGet(t *testing.T, srv *testServer, path string, headerLines ...string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n", path, strings.Join(headerLines, ""))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = readAll(t, resp)
	return resp
}

// A client's X-Request-ID is kept if sane, else replaced by a new one; the
// response carries the id, and so does the request's access line, in
// place of anything the client sent.
func TestRequestID(t *testing.T) {
	var logs syncBuffer
	srv := newTestServer(t, chat.Config{}, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tests := []struct {
		name string
		line string // the X-Request-ID header line, "" for none
		keep string // the id kept, "" for a new one
	}{
		{"none", "", ""},
		{"a UUID", "X-Request-ID: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n", "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"nginx's 32 hex", "X-Request-ID: 7cb0f2d1a6e44c1a9c1d7b9d0c5e3f21\r\n", "7cb0f2d1a6e44c1a9c1d7b9d0c5e3f21"},
		{"every allowed character", "X-Request-ID: AZaz09-_.:\r\n", "AZaz09-_.:"},
		{"one character", "x-request-id: 1\r\n", "1"},
		{"64 characters", "X-Request-ID: " + strings.Repeat("a", 64) + "\r\n", strings.Repeat("a", 64)},
		{"65 characters", "X-Request-ID: " + strings.Repeat("a", 65) + "\r\n", ""},
		{"empty", "X-Request-ID: \r\n", ""},
		{"a space", "X-Request-ID: a b\r\n", ""},
		{"a folded line", "X-Request-ID: forged\r\n msg=request status=200\r\n", ""},
		{"quotes", "X-Request-ID: \"x\"\r\n", ""},
		{"an equals sign", "X-Request-ID: a=b\r\n", ""},
		{"HTML", "X-Request-ID: <b>x</b>\r\n", ""},
		{"non-ASCII", "X-Request-ID: idé\r\n", ""},
		{"a tab", "X-Request-ID: a\tb\r\n", ""},
		// A NUL or a bare CR net/http refuses (400) before any handler; the
		// fuzz test below sends those through the middleware.
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "msg=request")
			resp := rawGet(t, srv, "/healthz", tt.line)
			got := resp.Header.Get(requestIDHeader)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			switch {
			case tt.keep != "" && got != tt.keep:
				t.Errorf("X-Request-ID %q, want the client's %q", got, tt.keep)
			case tt.keep == "" && !madeID.MatchString(got):
				t.Errorf("X-Request-ID %q, want a new one (16 hex digits)", got)
			}
			waitFor(t, 5*time.Second, "the request's log line", func() bool {
				return strings.Count(logs.String(), "msg=request") > before
			})
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			last := lines[len(lines)-1]
			if want := "request_id=" + got + " "; !strings.Contains(last, want) {
				t.Errorf("the log line is\n%s\nwant it to hold %q", last, want)
			}
			if strings.Contains(logs.String(), "forged") || strings.Contains(logs.String(), "<b>") {
				t.Errorf("the log holds what the client sent:\n%s", logs.String())
			}
		})
	}
}

// New request ids do not repeat.
func TestNewRequestIDsDiffer(t *testing.T) {
	seen := make(map[string]bool)
	for range 10000 {
		id := newRequestID()
		if !madeID.MatchString(id) || !saneRequestID(id) || seen[id] {
			t.Fatalf("id %q: not 16 hex digits, or made twice", id)
		}
		seen[id] = true
	}
}

// FuzzRequestID sends arbitrary X-Request-ID values through the middleware:
// the response's id is the one sent if that is sane, else a new one, and
// either way the request's log line is one line, with the id in it as it
// is, unquoted: it can neither break the line nor forge a field.
func FuzzRequestID(f *testing.F) {
	for _, seed := range []string{"", "abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "a\nb", `"`, "a b", "é",
		strings.Repeat("x", 64), strings.Repeat("x", 65), "x msg=forged", "\x00", "a=b"} {
		f.Add(seed)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, sent string) {
		var logs strings.Builder
		log := slog.New(slog.NewTextHandler(&logs, nil))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(requestIDHeader, sent)
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		err := requestID(log)(func(c echo.Context) error {
			requestLog(c, nil).Info("request")
			return nil
		})(c)
		if err != nil {
			t.Fatal(err)
		}
		got := rec.Header().Get(requestIDHeader)
		kept := got == sent
		if kept != saneRequestID(sent) || (!kept && !madeID.MatchString(got)) {
			t.Errorf("sent %q, got %q", sent, got)
		}
		if kept && (len(sent) > maxRequestID || !utf8.ValidString(sent) || strings.ContainsAny(sent, " \"=\\\n\r\t<>&")) {
			t.Errorf("kept %q", sent)
		}
		line := logs.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, " request_id="+got+"\n") {
			t.Errorf("the log line %q does not end with request_id=%s", line, got)
		}
		if requestIDOf(c) != got {
			t.Errorf("requestIDOf %q, the response's %q", requestIDOf(c), got)
		}
	})
}

// withoutRequestID is an error answer's body without the request id it
// names (" (request ID)" ending its line, or "request_id" in JSON), once
// checked to be the response's X-Request-ID: the tests of what an error
// says compare the rest. TestErrorsAreOneLine checks that each names it.
func withoutRequestID(t testing.TB, resp *http.Response, body string) string {
	t.Helper()
	id := resp.Header.Get(requestIDHeader)
	if resp.StatusCode < 400 || id == "" {
		return body
	}
	body = strings.Replace(body, " (request "+id+")\n", "\n", 1)
	body = strings.Replace(body, `,"request_id":"`+id+`"`, "", 1)
	if strings.Contains(body, "(request ") || strings.Contains(body, `"request_id"`) {
		t.Errorf("%.200q names a request id other than its X-Request-ID %s", body, id)
	}
	return body
}

// A stream's end is logged with its request's id over HTTP/1.1, where the
// stream goes on in its own goroutine after the handler returned, and over
// HTTP/2, where it stays in the handler; so is the stream's access line,
// and the response carries the id.
func TestStreamEndHasRequestID(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			var logs syncBuffer
			cfg := Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			srv := startTestServer(t, h2, chat.Config{}, cfg)
			alice := srv.browser(t)
			m := alice.join("lobby", "alice")
			s := alice.stream("/rooms/lobby/events?since=0", http.Header{"X-Request-Id": {"stream-1"}})
			if got := s.resp.Header.Get(requestIDHeader); got != "stream-1" || s.resp.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
				t.Fatalf("%s, X-Request-ID %q; want the client's stream-1", s.resp.Proto, got)
			}
			alice.say("lobby", m, "hi")
			s.take(t, 2) // the join and the message
			s.close()
			waitFor(t, 5*time.Second, "the stream's end in the log", func() bool {
				return strings.Contains(logs.String(), `msg="stream ended" request_id=stream-1 `)
			})
			if !strings.Contains(logs.String(), "msg=request request_id=stream-1 method=GET path=/rooms/lobby/events status=200 ") {
				t.Errorf("no access line for the stream with its id:\n%s", logs.String())
			}
		})
	}
}
