package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/acme"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// testCA is a throwaway certificate authority, and a leaf it signed for
// localhost and 127.0.0.1, written as PEM files.
type testCA struct {
	pool              *x509.CertPool // trusts the CA
	certFile, keyFile string         // the leaf's chain and key
	caFile            string         // the CA's certificate
	spki              string         // base64 of the SHA-256 of the leaf's public key, as Chromium's flags take it
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Cloakroom test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := testCA{pool: x509.NewCertPool(), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), caFile: filepath.Join(dir, "ca.pem")}
	c.pool.AddCert(ca)
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	c.spki = base64.StdEncoding.EncodeToString(spki[:])
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(c.certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// countingClient is an HTTPS client trusting ca, with a cookie jar, that
// counts the TCP connections it opens.
func countingClient(t *testing.T, ca testCA, dials *atomic.Int64) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.pool},
		ForceAttemptHTTP2: true, // a custom dialer turns it off otherwise
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// With --tls-cert/--tls-key, the real program serves HTTPS with HTTP/2: the
// client negotiates h2, the session cookie is Secure, and ten event streams
// and the posts beside them share one TCP connection, each stream getting
// the message.
func TestTLSServesHTTP2OnOneConnection(t *testing.T) {
	ca := newTestCA(t)
	base, stop := startApp(t, append([]string{"--tls-cert", ca.certFile, "--tls-key", ca.keyFile}, limitsOff...)...)
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("Cloakroom says it listens on %q, want https://127.0.0.1:port", base)
	}
	var dials atomic.Int64
	client := countingClient(t, ca, &dials)

	resp, err := client.PostForm(base+"/join", url.Values{"username": {"alice"}, "room": {"lobby"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("join: %d", resp.StatusCode)
	}
	if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" || resp.ProtoMajor != 2 {
		t.Fatalf("join over %s, ALPN %q; want HTTP/2 over TLS (h2)", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].Secure || !cookies[0].HttpOnly {
		t.Fatalf("cookies %v, want the one session cookie, Secure and HttpOnly", cookies)
	}
	member := strings.TrimPrefix(resp.Header.Get("Location"), "/rooms/lobby?m=")

	const n = 10
	streams := make([]*bufio.Reader, n)
	for i := range streams {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rooms/lobby/events?format=text", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("stream %d: %d over %s", i, resp.StatusCode, resp.Proto)
		}
		streams[i] = bufio.NewReader(resp.Body)
	}
	for i := range 3 {
		req, err := http.NewRequest(http.MethodPost, base+"/rooms/lobby/messages", strings.NewReader(url.Values{"m": {member}, "text": {fmt.Sprint("hello ", i)}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.ProtoMajor != 2 {
			t.Fatalf("post: %d over %s", resp.StatusCode, resp.Proto)
		}
	}
	for i, s := range streams {
		if err := readUntil(s, "hello 2", 10*time.Second); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if got := dials.Load(); got != 1 {
		t.Errorf("%d TCP connections for a join, %d streams and 3 posts; want 1", got, n)
	}

	// Shutting down ends the HTTP/2 streams, and run returns.
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	for i, s := range streams {
		if err := readUntil(s, "no such line", 5*time.Second); err == nil || strings.HasPrefix(err.Error(), "no ") {
			t.Errorf("stream %d after shutdown: %v, want it ended", i, err)
		}
	}
}

// readUntil reads r until a line contains want, for at most timeout.
func readUntil(r *bufio.Reader, want string, timeout time.Duration) error {
	found := make(chan error, 1)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if strings.Contains(line, want) {
				found <- nil
				return
			}
			if err != nil {
				found <- err
				return
			}
		}
	}()
	select {
	case err := <-found:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("no %q in %v", want, timeout)
	}
}

// startRedirectingApp runs Cloakroom on free ports with flags, which must
// turn TLS on and give --http-addr, and returns the HTTPS base URL and the
// plain-HTTP address.
func startRedirectingApp(t *testing.T, flags ...string) (base, plain string) {
	t.Helper()
	startRun(t, startSpec{flags: flags, until: func(line string) bool {
		if _, addr, ok := strings.Cut(line, "listening on "); ok {
			base = strings.TrimSpace(addr)
		}
		if rest, ok := strings.CutPrefix(line, "Cloakroom redirects plain HTTP on "); ok {
			plain, _, _ = strings.Cut(rest, " ")
		}
		return base != "" && plain != ""
	}})
	return base, plain
}

// --http-addr redirects GET and HEAD to the HTTPS port with 308, keeping
// host and path, and refuses other methods; HSTS goes out over HTTPS only.
func TestHTTPAddrRedirectsToHTTPS(t *testing.T) {
	ca := newTestCA(t)
	base, plain := startRedirectingApp(t, "--http-addr", "127.0.0.1:0", "--tls-cert", ca.certFile, "--tls-key", ca.keyFile, "--hsts", "24h")
	_, tlsPort, err := net.SplitHostPort(strings.TrimPrefix(base, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	_, plainPort, _ := net.SplitHostPort(plain)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type answer struct {
		Status   int
		Location string
		HSTS     string
	}
	tests := []struct {
		method, host, path string
		want               answer
	}{
		{http.MethodGet, "localhost:" + plainPort, "/rooms/lobby?m=1", answer{http.StatusPermanentRedirect, "https://localhost:" + tlsPort + "/rooms/lobby?m=1", ""}},
		{http.MethodHead, "chat.example", "/", answer{http.StatusPermanentRedirect, "https://chat.example:" + tlsPort + "/", ""}},
		{http.MethodGet, "[::1]:" + plainPort, "/healthz", answer{http.StatusPermanentRedirect, "https://[::1]:" + tlsPort + "/healthz", ""}},
		{http.MethodPost, "localhost", "/join", answer{http.StatusBadRequest, "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://"+plain+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := answer{resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Strict-Transport-Security")}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}

	var dials atomic.Int64
	resp, err := countingClient(t, ca, &dials).Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=86400" {
		t.Errorf("HTTPS Strict-Transport-Security %q, want max-age=86400", got)
	}
}

// The redirect leaves the port out when HTTPS is on 443.
func TestRedirectToPort443(t *testing.T) {
	srv := httptest.NewServer(redirectToHTTPS("443"))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]string{
		"chat.example:80": "https://chat.example/a?b=c",
		"[2001:db8::1]":   "https://[2001:db8::1]/a?b=c",
	} {
		t.Run(host, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/a?b=c", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || got != want {
				t.Errorf("%d to %q, want 308 to %q", resp.StatusCode, got, want)
			}
		})
	}
}

// The redirect goes to the host the request named, whatever its target:
// a target that is not a path (an opaque "x:@evil.example/", which
// appended to the host made https://chat.example@evil.example/, a
// redirect to evil.example; or "*") is a 400, and a path that looks like
// another host stays a path. Raw request lines, since no HTTP client sends
// these.
func TestRedirectStaysOnTheHost(t *testing.T) {
	for _, port := range []string{"443", "8443"} {
		srv := httptest.NewServer(redirectToHTTPS(port))
		t.Cleanup(srv.Close)
		host := "chat.example"
		if port != "443" {
			host += ":" + port
		}
		type answer struct {
			Status   int
			Location string
		}
		tests := []struct {
			target string
			want   answer
		}{
			{"/rooms/lobby?m=1", answer{http.StatusPermanentRedirect, "https://" + host + "/rooms/lobby?m=1"}},
			{"x:@evil.example/", answer{http.StatusBadRequest, ""}},
			{"x:.evil.example/", answer{http.StatusBadRequest, ""}},
			{"*", answer{http.StatusBadRequest, ""}},
			{"//evil.example/", answer{http.StatusPermanentRedirect, "https://" + host + "//evil.example/"}},
			{"/%0d%0aSet-Cookie:x=1", answer{http.StatusPermanentRedirect, "https://" + host + "/%0d%0aSet-Cookie:x=1"}},
		}
		for _, tt := range tests {
			t.Run(port+" "+tt.target, func(t *testing.T) {
				conn, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: chat.example\r\nConnection: close\r\n\r\n", tt.target); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := answer{resp.StatusCode, resp.Header.Get("Location")}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got)\n%s", diff)
				}
				if len(resp.Header.Values("Set-Cookie")) > 0 {
					t.Errorf("a Set-Cookie header: %q", resp.Header.Values("Set-Cookie"))
				}
			})
		}
	}
}

// Flag combinations that cannot work are start-up errors that say why.
func TestTLSFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string // "" for none
	}{
		{"plain by default", nil, ""},
		{"cert and key", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, ""},
		{"cert without key", []string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"key without cert", []string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{"ACME and a cert", []string{"--acme-domain", "chat.example", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "not both"},
		{"--http-addr without TLS", []string{"--http-addr", ":80"}, "--http-addr redirects to HTTPS"},
		{"--hsts without TLS", []string{"--hsts", "8760h"}, "--hsts needs HTTPS"},
		{"--hsts behind a trusted proxy", []string{"--hsts", "8760h", "--trusted-proxies", "10.0.0.1"}, ""},
		{"negative --hsts", []string{"--hsts", "-1h", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "--hsts must be"},
		{"--acme-cache without a domain", []string{"--acme-cache", "/tmp/x"}, "need --acme-domain"},
		{"an IP address as an ACME domain", []string{"--acme-domain", "192.0.2.1"}, "not a domain name"},
		{"a URL as an ACME domain", []string{"--acme-domain", "https://chat.example"}, "not a domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, func(string) string { return "" }, io.Discard)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one saying %q", err, tt.err)
			}
		})
	}
}

// --acme-domain is repeatable and takes comma-separated lists, from flags
// and from the environment alike.
func TestACMEDomains(t *testing.T) {
	o, err := parseOptions([]string{"--acme-domain", "Chat.Example.", "--acme-domain", "a.example, b.example"}, func(k string) string {
		return map[string]string{"CLOAKROOM_ACME_DOMAIN": "env.example"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"env.example", "chat.example", "a.example", "b.example"}, o.tls.acmeDomains); diff != "" {
		t.Errorf("domains (-want +got)\n%s", diff)
	}
}

// The ACME setup, short of a CA: the cache directory is made with mode
// 0700, the TLS port offers h2, http/1.1 and acme-tls/1 (TLS-ALPN-01), the
// host policy refuses every name but the listed ones before any CA is
// asked, and the plain-HTTP handler hands ACME's challenge path to autocert
// and redirects the rest.
func TestACMESetup(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "state", "acme")
	o, err := parseOptions([]string{"--acme-domain", "chat.example", "--acme-cache", cache,
		"--acme-directory", "https://127.0.0.1:1/directory"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	set, err := newTLS(o.tls, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cache)
	if err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
		t.Fatalf("cache directory: %v, %v; want a directory with mode 0700", fi.Mode(), err)
	}
	if diff := cmp.Diff([]string{"h2", "http/1.1", acme.ALPNProto}, set.config.NextProtos); diff != "" {
		t.Errorf("NextProtos (-want +got)\n%s", diff)
	}
	if set.acme.Client.DirectoryURL != "https://127.0.0.1:1/directory" {
		t.Errorf("directory %q", set.acme.Client.DirectoryURL)
	}
	ctx := context.Background()
	for _, host := range []string{"chat.example", "CHAT.example", "chat.example:80", "chat.example:8080"} {
		if err := set.acme.HostPolicy(ctx, host); err != nil {
			t.Errorf("%s, the listed domain, is refused: %v", host, err)
		}
	}
	for _, host := range []string{"other.example", "sub.chat.example", "127.0.0.1", "other.example:80"} {
		if set.acme.HostPolicy(ctx, host) == nil {
			t.Errorf("%s is allowed, want refused", host)
		}
		// Refused before the CA (which does not exist here) is asked.
		if _, err := set.config.GetCertificate(&tls.ClientHelloInfo{ServerName: host}); err == nil || strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("certificate for %s: %v, want a refusal by the host policy", host, err)
		}
	}

	srv := httptest.NewServer(set.httpHandler("443"))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]int{
		"/.well-known/acme-challenge/unknown-token": http.StatusNotFound, // autocert's: no such challenge
		"/rooms/lobby": http.StatusPermanentRedirect,
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "chat.example"
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// The default cache directory is the user cache directory's.
func TestDefaultACMECache(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG_CACHE_HOME is the cache directory on Linux only")
	}
	t.Setenv("XDG_CACHE_HOME", "/var/cache/test")
	dir, err := defaultACMECache()
	if err != nil || dir != "/var/cache/test/cloakroom/acme" {
		t.Errorf("%q, %v; want /var/cache/test/cloakroom/acme", dir, err)
	}
}

// One client with one HTTP/2 connection gets no more event streams than
// --client-streams, however many streams it opens on it: here 300, past
// the 250 that net/http's HTTP/2 server lets a connection have open at once
// (its MAX_CONCURRENT_STREAMS, which it must advertise). Each stream past
// the limit is answered 429 (or refused by HTTP/2 itself), never 200.
func TestOneHTTP2ConnectionKeepsToTheClientStreamLimit(t *testing.T) {
	ca := newTestCA(t)
	base, _ := startApp(t, "--tls-cert", ca.certFile, "--tls-key", ca.keyFile, "--client-streams", "5")
	conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{RootCAs: ca.pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var headers bytes.Buffer
	enc := hpack.NewEncoder(&headers)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", "/rooms/lobby/events"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	// Written before anything is read: the server's frames wait in the
	// socket buffers meanwhile, a few hundred bytes a stream.
	const n = 300
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: headers.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}

	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // against a hang; the loop ends on the answers
	outcome := map[uint32]string{}                             // per stream: its status, or the reset's code
	var maxStreams uint32
	for len(outcome) < n {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d of %d answers: %v", len(outcome), n, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				maxStreams = v
			}
		case *http2.MetaHeadersFrame:
			if _, seen := outcome[f.StreamID]; !seen {
				outcome[f.StreamID] = f.PseudoValue("status")
			}
		case *http2.RSTStreamFrame:
			if _, seen := outcome[f.StreamID]; !seen {
				outcome[f.StreamID] = f.ErrCode.String()
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v after %d answers", f.ErrCode, len(outcome))
		}
	}
	counts := map[string]int{}
	for _, o := range outcome {
		counts[o]++
	}
	t.Logf("MAX_CONCURRENT_STREAMS %d; answers %v", maxStreams, counts)
	if maxStreams == 0 || maxStreams > 250 {
		t.Errorf("MAX_CONCURRENT_STREAMS %d, want it advertised, at most 250", maxStreams)
	}
	if counts["200"] != 5 || counts["200"]+counts["429"]+counts["REFUSED_STREAM"]+counts["PROTOCOL_ERROR"] != n {
		t.Errorf("answers %v; want 5 streams (200), the other %d refused (429, or reset by HTTP/2)", counts, n-5)
	}
}
