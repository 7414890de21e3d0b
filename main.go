// Cloakroom is a self-hosted room chat in one binary: run it, open
// http://localhost:5000, pick a name and a room, and talk.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/client"
	"github.com/cloakroom/cloakroom/handlers"
	"github.com/cloakroom/cloakroom/limits"
	"github.com/cloakroom/cloakroom/metrics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cloakroom:", err)
		os.Exit(1)
	}
}

// options are the settings a user can give, as flags or environment.
type options struct {
	addr         string
	history      int
	maxRooms     int
	maxMembers   int
	maxOwnNames  int
	maxStreams   int
	away         time.Duration
	roomIdle     time.Duration
	logLevel     string
	logFormat    logFormat
	shutdownWait time.Duration
	drain        time.Duration

	// Per-client limits; 0 turns each off.
	limits         limits.Config
	trustedProxies limits.Proxies

	metricsAddr string // "": no metrics; addr: /metrics on the main address

	// Files holding the master key and the one before it (keyfile.go).
	masterKeyFile    string
	oldMasterKeyFile string
	tls              tlsOptions // HTTPS, ACME, --http-addr and HSTS (tls.go)
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("cloakroom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if !helpAsked(args) { // a bad flag: its error is enough, not 60 lines
			fmt.Fprintln(fs.Output(), "Run cloakroom --help for the commands and every flag.")
			return
		}
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", "localhost:5000", "address to listen on")
	fs.IntVar(&o.history, "history", chat.DefaultHistory, "events kept per room")
	fs.IntVar(&o.maxRooms, "max-rooms", chat.DefaultMaxRooms, "rooms that may exist at once")
	fs.IntVar(&o.maxMembers, "max-members", chat.DefaultMaxMembers, "members per room")
	fs.IntVar(&o.maxOwnNames, "max-own-names", chat.DefaultMaxOwnNames, "names one browser may hold in one room (one per tab)")
	fs.IntVar(&o.maxStreams, "max-streams", chat.DefaultMaxReaders, "open event streams, over all rooms")
	fs.DurationVar(&o.away, "away-timeout", chat.DefaultAwayTimeout, "a member away this long leaves the room")
	fs.DurationVar(&o.roomIdle, "room-idle", chat.DefaultRoomIdle, "a room with no members is dropped, with its history, after this long without a join, leave or post, whoever still watches its stream")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	o.logFormat = "text"
	fs.Var(&o.logFormat, "log-format", "`format` of log lines: text (key=value) or json (one JSON object a line)")
	fs.DurationVar(&o.shutdownWait, "shutdown-timeout", 5*time.Second, "on SIGTERM or SIGINT, the longest the server takes to answer what is in flight and exit (the drain included)")
	fs.DurationVar(&o.drain, "shutdown-drain", time.Second, "on SIGTERM or SIGINT, how long the server first goes on answering, every new request with 503 (health checks see it going), before it stops accepting")
	// The README's Configuration table says why each default is what it is.
	fs.IntVar(&o.limits.Streams, "client-streams", 100, "open event streams per client (IPv4 address or IPv6 /64); 0: no limit")
	fs.IntVar(&o.limits.JoinsPerMinute, "client-joins", 30, "joins per client per minute; 0: no limit")
	fs.Float64Var(&o.limits.MemberPosts.PerSecond, "member-post-rate", 1, "posts per second per member, over its burst; 0: no limit")
	fs.IntVar(&o.limits.MemberPosts.Burst, "member-post-burst", 10, "posts a member may send at once; 0: no limit")
	fs.Float64Var(&o.limits.ClientPosts.PerSecond, "client-post-rate", 5, "posts per second per client, all its members together, over its burst; 0: no limit")
	fs.IntVar(&o.limits.ClientPosts.Burst, "client-post-burst", 20, "posts a client may send at once; 0: no limit")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "address to serve Prometheus metrics (/metrics) and /readyz on; the same as --addr adds /metrics there; empty: no metrics")
	fs.Func("trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For or X-Real-IP names the client", func(s string) (err error) {
		o.trustedProxies, err = limits.ParseProxies(s)
		return err
	})
	fs.StringVar(&o.masterKeyFile, "master-key-file", "", "file holding the 32-byte master key as hex or base64, mode 0600 or 0400 (make one: cloakroom keygen FILE); without it the key is random, for this process only")
	fs.StringVar(&o.oldMasterKeyFile, "old-master-key-file", "", "after a rotation, the file of the key used before --master-key-file's: records sealed under it still open")
	addTLSFlags(fs, &o.tls)
	// Every flag can also come from the environment, as CLOAKROOM_ and its
	// name in capitals (CLOAKROOM_MAX_ROOMS); a flag on the command line wins.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		f.Usage += " (env " + name + ")"
		if v := getenv(name); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.history < 1 || o.maxRooms < 1 || o.maxMembers < 1 || o.maxOwnNames < 1 || o.maxStreams < 1 || o.away <= 0 || o.roomIdle <= 0 || o.shutdownWait <= 0 {
		return o, errors.New("limits and timeouts must be positive")
	}
	if o.drain < 0 || o.drain >= o.shutdownWait {
		return o, errors.New("--shutdown-drain must be at least 0 and shorter than --shutdown-timeout")
	}
	l := o.limits
	if l.Streams < 0 || l.JoinsPerMinute < 0 || !validRate(l.MemberPosts) || !validRate(l.ClientPosts) {
		return o, errors.New("per-client limits must be 0 (off) or positive")
	}
	if err := o.tls.check(len(o.trustedProxies) > 0); err != nil {
		return o, err
	}
	return o, nil
}

// validRate: a finite rate and a burst, each 0 (off) or positive.
func validRate(r limits.Rate) bool {
	return r.PerSecond >= 0 && !math.IsInf(r.PerSecond, 1) && r.Burst >= 0 // NaN fails the first
}

// serveMetrics listens on addr and serves h there (the metrics and
// /readyz) in a goroutine of its own, which sends what Serve returns to
// served once the server is shut down or fails.
func serveMetrics(addr string, h http.Handler, log *slog.Logger, served chan<- error) (*http.Server, net.Addr, error) {
	ln, err := listen("--metrics-addr", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second, // no streams here
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { served <- srv.Serve(ln) }()
	return srv, ln.Addr(), nil
}

// listen listens on addr, given by flag, and names both in an error: with
// three addresses to give, "address already in use" alone does not say
// which one is.
func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	err = fmt.Errorf("%s %s: %w", flag, addr, err)
	if errors.Is(err, syscall.EACCES) {
		err = fmt.Errorf("%w (ports below 1024 need root or the CAP_NET_BIND_SERVICE capability)", err)
	}
	return nil, err
}

// sameAddr reports whether the metrics address is the main one: the same
// string, unless its port is 0, which asks for a free port of its own.
func sameAddr(metricsAddr, addr string) bool {
	_, port, err := net.SplitHostPort(metricsAddr)
	return metricsAddr == addr && (err != nil || port != "0")
}

// logFormat is how log lines are written: "text" or "json" (flag.Value).
type logFormat string

func (f *logFormat) String() string { return string(*f) }

func (f *logFormat) Set(s string) error {
	switch s = strings.ToLower(s); s {
	case "text", "json":
		*f = logFormat(s)
		return nil
	}
	return errors.New("must be text or json")
}

// newLogger writes lines of level and above to w, as text (key=value) or,
// for format "json", one JSON object a line.
func newLogger(w io.Writer, format logFormat, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func envName(flagName string) string {
	return "CLOAKROOM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// usageHead leads --help, before every flag.
const usageHead = `Cloakroom: a self-hosted room chat in one binary.

Usage:
  cloakroom [flags]                 serve (http://localhost:5000 by default)
  cloakroom tail [flags] ROOM       print a room's events as they come
  cloakroom say [flags] ROOM TEXT   post to a room as a bot
  cloakroom keygen FILE|-           write a new master key (see --master-key-file)
  cloakroom version                 print the version, revision and Go version

Flags of the server (each also CLOAKROOM_ and its name in capitals):
`

// helpAsked reports whether args ask for help (-h, -help, --help) before
// any "--" that ends the flags.
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// run is the command line: `tail` and `say` are the client's commands
// (package client), `keygen` makes a master key file (keyfile.go); anything
// else (no arguments, or flags only) serves.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "tail":
			return client.TailCommand(ctx, args[1:], stdout, stderr)
		case "say":
			return client.SayCommand(ctx, args[1:], stdout, stderr)
		case "keygen":
			return keygen(args[1:], stdout, stderr)
		case "--version", "-version", "version":
			fmt.Fprintln(stdout, versionLine(debug.ReadBuildInfo()))
			return nil
		case "help":
			args = []string{"--help"}
		}
	}
	return serve(ctx, args, getenv, stdout, stderr)
}

// serve starts Cloakroom and serves until ctx ends, then shuts down.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	out := stderr
	if helpAsked(args) {
		out = stdout // asked for, the help is the output: cloakroom --help | less
	}
	o, err := parseOptions(args, getenv, out)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the usage is printed; asking for it is no failure
	}
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := newLogger(stderr, o.logFormat, level)

	box, err := newBox(o, runtime.GOOS, log)
	if err != nil {
		return err
	}

	// ready is true from when the server serves to the start of its
	// shutdown: what /readyz says.
	var draining, ready atomic.Bool
	lim := limits.New(o.limits)
	hcfg := handlers.Config{Logger: log, Draining: &draining, Limits: lim, TrustedProxies: o.trustedProxies, HSTS: o.tls.hsts, Ready: ready.Load}
	var mtr *metrics.Metrics
	if o.metricsAddr != "" {
		mtr = metrics.New()
		hcfg.OnPost, hcfg.OnStreamWrite = mtr.ObservePost, mtr.ObserveStreamWrite
	}
	streams := handlers.NewStreams(hcfg)
	hub := chat.NewHub(box, chat.Config{
		History: o.history, MaxRooms: o.maxRooms, MaxMembers: o.maxMembers,
		MaxOwnNames: o.maxOwnNames, MaxReaders: o.maxStreams,
		AwayTimeout: o.away, RoomIdle: o.roomIdle,
	}, streams.Publish, nil)
	var admin *http.Server // the metrics address's, when it has its own
	adminServed := make(chan error, 1)
	if mtr != nil {
		if err := mtr.Register(metrics.Sources{Chat: hub.Stats, Streams: streams.Stats, Limits: lim.Stats, Crypto: box.Stats}); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		if sameAddr(o.metricsAddr, o.addr) {
			hcfg.Metrics = mtr.Handler()
		} else {
			// Up before the main address, so that an orchestrator probing
			// here sees /readyz go from 503 to 200.
			var addr net.Addr
			admin, addr, err = serveMetrics(o.metricsAddr, handlers.Admin(mtr.Handler(), ready.Load), log, adminServed)
			if err != nil {
				return err // names the flag and the address
			}
			defer admin.Close() // on every way out; shut down gracefully below
			fmt.Fprintf(stdout, "Metrics are served on http://%s/metrics\n", addr)
			log.Info("serving metrics", "addr", addr.String())
		}
	}
	e := handlers.New(hub, streams, hcfg)

	tlsSet, err := newTLS(o.tls, log)
	if err != nil {
		return err
	}
	ln, err := listen("--addr", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()       // if serving never starts
	var plain *http.Server // on --http-addr: redirects to HTTPS
	var plainLn net.Listener
	if o.tls.httpAddr != "" {
		if plainLn, err = listen("--http-addr", o.tls.httpAddr); err != nil {
			return err
		}
		defer plainLn.Close()
		_, tlsPort, _ := net.SplitHostPort(ln.Addr().String())
		plain = &http.Server{
			Handler:           tlsSet.httpHandler(tlsPort),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second, // the event stream lifts it for itself
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// No WriteTimeout: it would end every event stream; each stream
		// write has a deadline of its own instead.
		// Over HTTP/2 a client that reads nothing at all has its streams
		// cut like any stuck reader; this then closes its connection,
		// whose writer is blocked, rather than leaving it to IdleTimeout.
		HTTP2: &http.HTTP2Config{WriteByteTimeout: 30 * time.Second},
	}
	srv.RegisterOnShutdown(streams.Close)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	limitsSwept := make(chan struct{})
	go func() {
		defer close(limitsSwept)
		lim.Run(ctx, time.Minute) // forgets the clients nobody has heard from
	}()
	defer func() {
		cancel()
		<-limitsSwept
	}()
	swept := make(chan error, 1)
	go func() { swept <- hub.Run(ctx, time.Second) }()

	served := make(chan error, 2)
	scheme := "http"
	if tlsSet != nil {
		scheme = "https"
		srv.TLSConfig = tlsSet.config
		// ServeTLS, not Serve on a tls.Listener: it sets net/http's HTTP/2
		// up for the listener (ALPN h2 with http/1.1 besides).
		go func() { served <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
	fmt.Fprintf(stdout, "Cloakroom is listening on %s://%s\n", scheme, ln.Addr())
	log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme)
	if plain != nil {
		go func() { served <- plain.Serve(plainLn) }()
		fmt.Fprintf(stdout, "Cloakroom redirects plain HTTP on %s to HTTPS\n", plainLn.Addr())
		log.Info("redirecting to HTTPS", "addr", plainLn.Addr().String(), "acme_http01", tlsSet.acme != nil)
	}
	ready.Store(true)

	select {
	case err := <-served:
		cancel()
		if plain != nil { // one of the two failed: end both
			_ = plain.Close()
			_ = srv.Close()
		}
		return err
	case err := <-adminServed:
		cancel()
		if plain != nil {
			_ = plain.Close()
		}
		_ = srv.Close()
		return fmt.Errorf("serve metrics: %w", err)
	case err = <-swept:
		if err != nil { // sealing failed: the machine has no randomness
			log.Error("sweeping rooms failed", "err", err)
			err = fmt.Errorf("sweep rooms: %w", err)
		}
	case <-ctx.Done():
	}
	cancel()

	// Shutting down answers everyone. During the drain the server still
	// accepts and reads every connection, and answers each new request
	// with 503 and Connection: close (a balancer's health check sees it
	// going), so a client that sends on a connection it kept gets an answer
	// and closes it. Only then are keep-alives turned off and the idle
	// connections closed (SetKeepAlivesEnabled(false) closes them at once,
	// which would race a client sending on one; after the drain only
	// clients silent all through it still hold one), the server stops
	// accepting, waits for what is in flight, and ends the streams.
	log.Info("shutting down", "drain", o.drain.String())
	sctx, scancel := context.WithTimeout(context.Background(), o.shutdownWait)
	defer scancel()
	ready.Store(false)
	draining.Store(true)
	select {
	case <-time.After(o.drain):
	case <-sctx.Done():
	}
	srv.SetKeepAlivesEnabled(false)
	if plain != nil {
		_ = plain.Close() // it only redirects: nothing in flight worth waiting for
	}
	if serr := srv.Shutdown(sctx); serr != nil {
		srv.Close()
		return errors.Join(err, fmt.Errorf("shutdown: %w", serr))
	}
	streams.Wait(sctx)
	// The metrics address answers to the end (a scrape sees the drain);
	// what it has in flight finishes within what is left of the timeout.
	if admin != nil {
		if serr := admin.Shutdown(sctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("shut down metrics: %w", serr))
		}
	}
	return err
}
