package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// fakeDNS serves DNS over TCP on a free port of 127.0.0.1: every name's A
// record is 127.0.0.1, and every other question has an empty answer (no
// AAAA, no CAA: any CA may issue). It returns the server's address.
func fakeDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// refuser listens on a free port of 127.0.0.1 and closes every connection
// at once: a TLS port where no TLS-ALPN-01 challenge can be answered.
func refuser(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// A certificate from a real ACME server, in this process: Pebble (Let's
// Encrypt's test CA) with its challenges checked against the running
// program, whose name chat.test the fake DNS resolves to 127.0.0.1. The
// first TLS handshake for chat.test makes autocert order the certificate;
// Pebble validates it, and the handshake completes with a chain that
// Pebble's root verifies, for chat.test only. The account key and the
// certificate land in --acme-cache, closed to others.
//
// TLS-ALPN-01 is answered on the program's own TLS port (an acme-tls/1
// handshake there). HTTP-01 is answered on --http-addr: Pebble is pointed
// at a TLS port that answers nothing, so autocert's first choice,
// TLS-ALPN-01, fails and it orders again with HTTP-01.
func TestACMEIssues(t *testing.T) {
	if testing.Short() {
		t.Skip("an ACME order takes a few seconds")
	}
	t.Setenv("PEBBLE_VA_NOSLEEP", "1") // Pebble would wait up to 5 s before each validation
	for _, tt := range []struct {
		name   string
		http01 bool
	}{
		{"TLS-ALPN-01", false},
		{"HTTP-01 on --http-addr", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resolver := fakeDNS(t)

			// The directory's URL must be known before the program starts,
			// and the validation authority needs the program's ports:
			// Pebble's handler is put in place once both exist.
			var pebble atomic.Pointer[http.Handler]
			acmeSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if h := pebble.Load(); h != nil {
					(*h).ServeHTTP(w, r)
					return
				}
				http.Error(w, "not yet", http.StatusServiceUnavailable)
			}))
			defer acmeSrv.Close()
			// ACME is HTTPS only: the program trusts the test server's
			// certificate as an operator would a private ACME CA's root.
			acmeRoot := filepath.Join(t.TempDir(), "acme-root.pem")
			if err := os.WriteFile(acmeRoot, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: acmeSrv.Certificate().Raw}), 0o600); err != nil {
				t.Fatal(err)
			}

			cache := filepath.Join(t.TempDir(), "acme")
			flags := []string{"--acme-domain", "chat.test", "--acme-directory", acmeSrv.URL + wfe.DirectoryPath,
				"--acme-cache", cache, "--acme-email", "ops@chat.test", "--acme-ca-roots", acmeRoot}
			var base string
			httpPort := 0 // Pebble's HTTP-01 port; none is tried without --http-addr
			if tt.http01 {
				var plain string
				base, plain = startRedirectingApp(t, append(flags, "--http-addr", "127.0.0.1:0")...)
				httpPort = portOf(t, plain)
			} else {
				base, _ = startApp(t, flags...)
			}
			tlsPort := portOf(t, strings.TrimPrefix(base, "https://"))
			port := strconv.Itoa(tlsPort)
			var err error
			if tt.http01 {
				tlsPort = refuser(t)
			}

			logger := log.New(io.Discard, "", 0)
			store := db.NewMemoryStore()
			authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "the default"}})
			validator := va.New(logger, httpPort, tlsPort, false, resolver, store)
			front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
			h := front.Handler()
			pebble.Store(&h)

			roots := x509.NewCertPool()
			roots.AddCert(authority.GetRootCert(0).Cert)
			dialer := &net.Dialer{Timeout: 60 * time.Second, Deadline: time.Now().Add(60 * time.Second)}
			// The handshake that starts the order waits for it, but only as
			// long as the server's handshake timeout (5 s, its
			// ReadHeaderTimeout): an order that takes longer (HTTP-01 comes
			// after a failed TLS-ALPN-01) completes in the background, and
			// the client's next handshake gets the certificate, as a
			// browser's retry would.
			var conn *tls.Conn
			retry := time.NewTicker(500 * time.Millisecond)
			defer retry.Stop()
			for {
				conn, err = tls.DialWithDialer(dialer, "tcp", "127.0.0.1:"+port, &tls.Config{
					ServerName: "chat.test", RootCAs: roots, NextProtos: []string{"h2", "http/1.1"},
				})
				if err == nil {
					break
				}
				if time.Now().After(dialer.Deadline) {
					t.Fatalf("TLS handshake for chat.test: %v", err)
				}
				t.Logf("TLS handshake for chat.test: %v; again", err)
				<-retry.C
			}
			state := conn.ConnectionState()
			conn.Close()
			leaf := state.PeerCertificates[0]
			if err := leaf.VerifyHostname("chat.test"); err != nil || len(leaf.DNSNames) != 1 || state.NegotiatedProtocol != "h2" {
				t.Errorf("certificate for %v (%v), ALPN %q; want chat.test alone, and h2", leaf.DNSNames, err, state.NegotiatedProtocol)
			}

			// The same certificate serves requests, from memory now.
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{ServerName: "chat.test", RootCAs: roots},
				ForceAttemptHTTP2: true,
			}}
			defer client.CloseIdleConnections()
			resp, err := client.Get(base + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				t.Errorf("GET /healthz: %d over %s", resp.StatusCode, resp.Proto)
			}

			// A name not listed gets no certificate (and no order at the CA).
			if c, err := tls.DialWithDialer(dialer, "tcp", "127.0.0.1:"+port, &tls.Config{ServerName: "other.test", RootCAs: roots}); err == nil {
				c.Close()
				t.Error("a handshake for other.test succeeded")
			}

			entries, err := os.ReadDir(cache)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
				if fi, err := e.Info(); err != nil || fi.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s in the cache: mode %v, %v; want no access for others", e.Name(), fi.Mode(), err)
				}
			}
			if !strings.Contains(strings.Join(names, " "), "chat.test") {
				t.Errorf("cache holds %v, want the certificate for chat.test", names)
			}
		})
	}
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}
