package handlers

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/limits"
)

// A request is HTTPS when it came over our own TLS, or from a trusted proxy
// that says so; then, and only then, the session cookie is Secure, HSTS is
// sent and Cross-Origin-Opener-Policy too (on a host that is not loopback).
// A client's own X-Forwarded-Proto (or Echo's other scheme headers) counts
// for nothing: Echo's c.Scheme() used to believe it from anyone.
func TestWhatCountsAsHTTPS(t *testing.T) {
	type got struct {
		Secure bool
		HSTS   string
		COOP   string
	}
	https := got{Secure: true, HSTS: "max-age=31536000", COOP: "same-origin"}
	tests := []struct {
		name    string
		tls     bool
		proxies string
		header  http.Header
		want    got
	}{
		{"plain", false, "", nil, got{}},
		{"plain, a client's X-Forwarded-Proto", false, "", http.Header{"X-Forwarded-Proto": {"https"}}, got{}},
		{"plain, a client's X-Forwarded-Ssl", false, "", http.Header{"X-Forwarded-Ssl": {"on"}}, got{}},
		{"plain, a client's X-Url-Scheme", false, "", http.Header{"X-Url-Scheme": {"https"}}, got{}},
		{"plain, X-Forwarded-Proto from a peer that is not a trusted proxy", false, "10.0.0.0/8", http.Header{"X-Forwarded-Proto": {"https"}}, got{}},
		{"a trusted proxy's X-Forwarded-Proto: https", false, "127.0.0.0/8", http.Header{"X-Forwarded-Proto": {"https"}}, https},
		{"a trusted proxy's X-Forwarded-Proto: HTTPS", false, "127.0.0.1", http.Header{"X-Forwarded-Proto": {"HTTPS"}}, https},
		{"a trusted proxy's X-Forwarded-Proto: http", false, "127.0.0.0/8", http.Header{"X-Forwarded-Proto": {"http"}}, got{}},
		{"a trusted proxy without X-Forwarded-Proto", false, "127.0.0.0/8", nil, got{}},
		{"a trusted proxy that appends http to a client's https, one line", false, "127.0.0.0/8", http.Header{"X-Forwarded-Proto": {"https, http"}}, got{}},
		{"a trusted proxy that appends http to a client's https, two lines", false, "127.0.0.0/8", http.Header{"X-Forwarded-Proto": {"https", "http"}}, got{}},
		{"a trusted proxy that appends https to a client's http", false, "127.0.0.0/8", http.Header{"X-Forwarded-Proto": {"http", " https "}}, https},
		{"a trusted proxy's X-Forwarded-Ssl", false, "127.0.0.0/8", http.Header{"X-Forwarded-Ssl": {"on"}}, got{}},
		{"TLS (HTTP/2)", true, "", nil, https},
		{"TLS, X-Forwarded-Proto: http from a client", true, "", http.Header{"X-Forwarded-Proto": {"http"}}, https},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxies, err := limits.ParseProxies(tt.proxies)
			if err != nil {
				t.Fatal(err)
			}
			hcfg := Config{TrustedProxies: proxies, HSTS: 8760 * time.Hour}
			srv := newTestServer(t, chat.Config{}, hcfg)
			if tt.tls {
				srv = newHTTP2TestServer(t, chat.Config{}, hcfg)
			}
			req := formRequest(t, http.MethodPost, srv.URL+"/join", url.Values{"username": {"alice"}, "room": {"lobby"}}, tt.header)
			req.Host = "chat.example" // not loopback: COOP only over HTTPS
			resp, err := srv.browser(t).client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookies := resp.Cookies()
			if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 {
				t.Fatalf("join: %d with %d cookies, want 303 with the session cookie", resp.StatusCode, len(cookies))
			}
			g := got{Secure: cookies[0].Secure, HSTS: resp.Header.Get("Strict-Transport-Security"), COOP: resp.Header.Get("Cross-Origin-Opener-Policy")}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// Without --hsts, HTTPS responses carry no Strict-Transport-Security: it
// is the operator's promise to keep serving HTTPS, never made for them.
func TestNoHSTSUnlessAsked(t *testing.T) {
	srv := newHTTP2TestServer(t, chat.Config{}, Config{})
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("TLS %v, Strict-Transport-Security %q; want TLS and none", resp.TLS != nil, resp.Header.Get("Strict-Transport-Security"))
	}
}
