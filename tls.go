package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// tlsOptions are the flags for serving HTTPS: certificate files, or
// certificates from an ACME CA (Let's Encrypt by default), the plain-HTTP
// listener that redirects to HTTPS (and answers ACME's HTTP-01 challenges),
// and HSTS.
type tlsOptions struct {
	certFile, keyFile string
	acmeDomains       []string
	acmeCache         string // "" is defaultACMECache()
	acmeEmail         string
	acmeDirectory     string
	acmeRoots         string // PEM file of CAs for the directory's HTTPS; "" is the system's
	httpAddr          string
	hsts              time.Duration
}

// on reports whether the server is to serve HTTPS.
func (t tlsOptions) on() bool { return t.certFile != "" || len(t.acmeDomains) > 0 }

// addTLSFlags defines the TLS flags on fs, to fill t.
func addTLSFlags(fs *flag.FlagSet, t *tlsOptions) {
	fs.StringVar(&t.certFile, "tls-cert", "", "PEM certificate chain file: serve HTTPS (HTTP/2 and HTTP/1.1) on --addr; needs --tls-key")
	fs.StringVar(&t.keyFile, "tls-key", "", "PEM private key file of --tls-cert")
	fs.Func("acme-domain", "domain to get a certificate for from the ACME CA and serve HTTPS for on --addr; repeat the flag or separate with commas", func(s string) error {
		for d := range strings.SplitSeq(s, ",") {
			d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
			if d == "" {
				continue
			}
			if strings.ContainsAny(d, "/: ") || net.ParseIP(d) != nil {
				return fmt.Errorf("%q is not a domain name", d)
			}
			t.acmeDomains = append(t.acmeDomains, d)
		}
		return nil
	})
	fs.StringVar(&t.acmeCache, "acme-cache", "", "directory keeping the ACME account key and certificates, made with mode 0700 (default: the user cache directory's cloakroom/acme, e.g. ~/.cache/cloakroom/acme)")
	fs.StringVar(&t.acmeEmail, "acme-email", "", "contact address given to the ACME CA, for expiry warnings (optional)")
	fs.StringVar(&t.acmeDirectory, "acme-directory", autocert.DefaultACMEDirectory, "ACME directory URL (Let's Encrypt's staging, or a test CA, for trials)")
	fs.StringVar(&t.acmeRoots, "acme-ca-roots", "", "PEM file of the CA certificates to trust for the ACME directory's HTTPS, for a private ACME CA (default: the system's)")
	fs.StringVar(&t.httpAddr, "http-addr", "", "also listen for plain HTTP here (e.g. :80): GET and HEAD are redirected to HTTPS, ACME's HTTP-01 challenges are answered; needs TLS")
	fs.DurationVar(&t.hsts, "hsts", 0, "send Strict-Transport-Security with this max-age (e.g. 8760h) on HTTPS responses; 0: none. Needs TLS (or --trusted-proxies in front)")
}

// check reports flag combinations that cannot work; proxied tells whether
// trusted proxies may speak HTTPS for us (see --hsts).
func (t tlsOptions) check(proxied bool) error {
	switch {
	case (t.certFile == "") != (t.keyFile == ""):
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	case t.certFile != "" && len(t.acmeDomains) > 0:
		return errors.New("--acme-domain gets certificates itself: give it or --tls-cert/--tls-key, not both")
	case t.httpAddr != "" && !t.on():
		return errors.New("--http-addr redirects to HTTPS: it needs --tls-cert/--tls-key or --acme-domain")
	case t.hsts < 0:
		return errors.New("--hsts must be 0 (none) or a positive duration")
	case t.hsts > 0 && !t.on() && !proxied:
		return errors.New("--hsts needs HTTPS: --tls-cert/--tls-key, --acme-domain, or a TLS proxy named in --trusted-proxies")
	case len(t.acmeDomains) == 0 && (t.acmeCache != "" || t.acmeEmail != "" || t.acmeDirectory != autocert.DefaultACMEDirectory || t.acmeRoots != ""):
		return errors.New("--acme-cache, --acme-email, --acme-directory and --acme-ca-roots need --acme-domain")
	}
	return nil
}

// defaultACMECache is the ACME cache directory when --acme-cache is not
// given: under os.UserCacheDir, which is $XDG_CACHE_HOME or ~/.cache on
// Linux (a systemd unit with DynamicUser should set CacheDirectory= and
// pass --acme-cache $CACHE_DIRECTORY/acme).
func defaultACMECache() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory for the ACME cache (%w): give --acme-cache", err)
	}
	return filepath.Join(dir, "cloakroom", "acme"), nil
}

// nextProtos are the ALPN protocols offered on the TLS port, HTTP/2 first.
// (http.Server.ServeTLS would add h2 and http/1.1 itself; they are listed
// so that the config says what is served.)
var nextProtos = []string{"h2", "http/1.1"}

// tlsSetup is what serving HTTPS takes: the TLS config of the main
// listener, and, with ACME, the manager whose HTTP handler answers HTTP-01
// challenges.
type tlsSetup struct {
	config *tls.Config
	acme   *autocert.Manager // nil with certificate files
}

// newTLS loads the certificate files or sets up ACME; (nil, nil) when TLS
// is off. Errors name the file or directory and the reason. log gets a
// warning when the ACME cache is open to others.
func newTLS(t tlsOptions, log *slog.Logger) (*tlsSetup, error) {
	switch {
	case t.certFile != "":
		cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %s with key %s: %w", t.certFile, t.keyFile, err)
		}
		return &tlsSetup{config: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			NextProtos:   nextProtos,
		}}, nil
	case len(t.acmeDomains) > 0:
		m, err := newACME(t, log)
		if err != nil {
			return nil, err
		}
		return &tlsSetup{acme: m, config: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: m.GetCertificate,
			// TLS-ALPN-01: the CA connects to port 443 offering only
			// acme-tls/1, and GetCertificate answers with the challenge's
			// certificate.
			NextProtos: append(nextProtos[:len(nextProtos):len(nextProtos)], acme.ALPNProto),
		}}, nil
	}
	return nil, nil
}

// newACME makes the autocert manager for t's domains, with its cache
// directory created (mode 0700) up front so that a directory we cannot
// write is a start-up error, not a failed renewal months later.
func newACME(t tlsOptions, log *slog.Logger) (*autocert.Manager, error) {
	dir := t.acmeCache
	if dir == "" {
		var err error
		if dir, err = defaultACMECache(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ACME cache directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("ACME cache directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("ACME cache directory %s: not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// It holds the account key and the certificates' private keys.
		log.Warn("the ACME cache directory is open to other users; chmod 700 it", "dir", dir, "mode", fi.Mode().Perm().String())
	}
	client := &acme.Client{DirectoryURL: t.acmeDirectory, UserAgent: "cloakroom"}
	if t.acmeRoots != "" {
		pem, err := os.ReadFile(t.acmeRoots)
		if err != nil {
			return nil, fmt.Errorf("ACME CA roots: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ACME CA roots %s: no PEM certificate in it", t.acmeRoots)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		client.HTTPClient = &http.Client{Transport: tr}
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: hostPolicy(t.acmeDomains),
		Email:      t.acmeEmail,
		Client:     client,
	}, nil
}

// hostPolicy allows the domains listed, and no other name. autocert asks
// it with the SNI name in a TLS handshake, and with the Host header as
// sent when answering HTTP-01 (autocert.Manager.HTTPHandler), which may
// carry a port ("chat.example:80"): the port is dropped first.
func hostPolicy(domains []string) autocert.HostPolicy {
	allowed := autocert.HostWhitelist(domains...)
	return func(ctx context.Context, host string) error {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return allowed(ctx, strings.ToLower(host))
	}
}

// httpHandler is what --http-addr serves: ACME's HTTP-01 challenges when
// certificates come from ACME, and otherwise redirectToHTTPS.
func (s *tlsSetup) httpHandler(tlsPort string) http.Handler {
	redirect := redirectToHTTPS(tlsPort)
	if s.acme != nil {
		return s.acme.HTTPHandler(redirect)
	}
	return redirect
}

// redirectToHTTPS answers plain HTTP: GET and HEAD with 308 Permanent
// Redirect to the same host (its port replaced by tlsPort, left out when
// 443) and path; any other method with 400, since a redirected POST would
// have sent its body over plain HTTP already.
func redirectToHTTPS(tlsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "This server speaks HTTPS: send the request to https:// instead.", http.StatusBadRequest)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if host == "" {
			http.Error(w, "The request names no host.", http.StatusBadRequest)
			return
		}
		if tlsPort != "443" {
			host = net.JoinHostPort(host, tlsPort)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]" // an IPv6 literal
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}
