package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"
)

// FuzzStreamRequest feeds the stream route's parsers of outside input (the
// resume point from Last-Event-ID or ?since=, ?format= and Accept, the
// members to keep present, the bearer token) with arbitrary values: none
// may panic, and what they accept must be what was sent.
func FuzzStreamRequest(f *testing.F) {
	for _, seed := range [][5]string{
		{"", "", "", "", ""},
		{"42", "", "json", "1", "Bearer abc"},
		{"", "0", "", "1&m=2&idle=2", "bearer  x "},
		{"18446744073709551616", "-1", "XML", "x", "Basic abc"},
		{"1e9", " 7", "text", "99999999999999999999", "Bearer"},
		{"", "", "", "", "application/json;q=0.5, text/html"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4])
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, lastID, since, formatName, members, header string) {
		q := url.Values{}
		if since != "" {
			q.Set("since", since)
		}
		if formatName != "" {
			q.Set("format", formatName)
		}
		q["m"] = []string{members}
		q["idle"] = []string{members}
		req := httptest.NewRequest(http.MethodGet, "/rooms/lobby/events?"+q.Encode(), nil)
		req.Header.Set("Last-Event-ID", lastID)
		req.Header.Set("Accept", header)
		req.Header.Set("Authorization", header)
		c := e.NewContext(req, httptest.NewRecorder())

		if got, resume, err := resumePoint(c); err == nil && resume {
			sent := lastID
			if sent == "" {
				sent = since
			}
			if strconv.FormatUint(got, 10) != sent {
				t.Errorf("resume point %d from %q", got, sent)
			}
		}
		if f, err := streamFormat(c); err == nil && formatName != "" && formatNames[f] != formatName {
			t.Errorf("format %q read as %s", formatName, formatNames[f])
		}
		if binds, err := bindParams(c.QueryParams()); err == nil {
			for _, b := range binds {
				if strconv.FormatUint(b.Member, 10) != members && !(members == "" && b.Member == 0) {
					t.Errorf("member %d from %q", b.Member, members)
				}
			}
		}
		if token, ok := bearerToken(req); ok && len(token) > len(header) {
			t.Errorf("token %q longer than the header %q", token, header)
		}
	})
}
