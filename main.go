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
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
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
	var cl *cluster // nil: this node is alone
	if o.cluster.url != "" {
		// Closed by cl.leave, deferred once the hub is made (below).
		if cl, err = joinCluster(ctx, o.cluster, o.history, box, log, 10*time.Second); err != nil {
			return err
		}
	}

	// ready is true from when the server serves to the start of its
	// shutdown: what /readyz says.
	var draining, ready atomic.Bool
	lim := limits.New(o.limits)
	// stopping ends as Shutdown begins: long responses (transcripts) stop.
	stopping, stop := context.WithCancel(context.Background())
	defer stop()
	isReady := func() bool { return ready.Load() && cl.connected() }
	hcfg := handlers.Config{
		Logger: log, Draining: &draining, Limits: lim, TrustedProxies: o.trustedProxies, HSTS: o.tls.hsts, Stop: stopping,
		// Not ready without NATS: this node could neither post nor follow.
		Ready: isReady,
		// Owners are HMACs of the session under the master key: the same on
		// every node, and no session id in any room's state.
		Owner: func(session string) string { return box.Token("owner", session) },
	}
	var mtr *metrics.Metrics
	if o.metricsAddr != "" {
		mtr = metrics.New()
		hcfg.OnPost, hcfg.OnStreamWrite = mtr.ObservePost, mtr.ObserveStreamWrite
	}
	streams := handlers.NewStreams(hcfg)
	ccfg := chat.Config{
		History: o.history, MaxRooms: o.maxRooms, MaxMembers: o.maxMembers,
		MaxOwnNames: o.maxOwnNames, MaxReaders: o.maxStreams,
		AwayTimeout: o.away, RoomIdle: o.roomIdle,
	}
	if cl != nil {
		cl.configure(&ccfg)
	}
	hub := chat.NewHub(box, ccfg, streams.Publish, nil)
	if cl != nil {
		// The first beat now, not at the first sweep a second from now: a
		// node started under this name meanwhile would not see this one.
		if err := hub.Sweep(); err != nil && !chat.Passing(err) {
			cl.nc.Close()
			return fmt.Errorf("--nats: %w", err)
		}
	}
	// The hub stops following shared rooms and tells them this node keeps
	// nobody present any more (for a lone node, nothing to do), within a
	// bounded time; then the NATS connection closes.
	var stopBy time.Time // when the shutdown must be over, once it began
	defer func() {
		// What is left of --shutdown-timeout, less a second for closing
		// the connection; at least a moment, at most 2 s.
		wait := time.Second
		if !stopBy.IsZero() {
			wait = min(max(time.Until(stopBy)-time.Second, 100*time.Millisecond), 2*time.Second)
		}
		cl.leave(hub, wait, log)
	}()
	var admin *http.Server // the metrics address's, when it has its own
	adminServed := make(chan error, 1)
	if mtr != nil {
		src := metrics.Sources{Chat: hub.Stats, Streams: streams.Stats, Limits: lim.Stats, Crypto: box.Stats}
		if cl != nil {
			src.Log, src.State, src.Connected = cl.log.Stats, cl.state.Stats, cl.connected
		}
		if err := mtr.Register(src); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		if sameAddr(o.metricsAddr, o.addr) {
			hcfg.Metrics = mtr.Handler()
		} else {
			// Up before the main address, so that an orchestrator probing
			// here sees /readyz go from 503 to 200.
			var addr net.Addr
			admin, addr, err = serveMetrics(o.metricsAddr, handlers.Admin(mtr.Handler(), isReady), log, adminServed)
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
		plain = redirectServer(tlsSet.httpHandler(tlsPort), log)
	}
	srv := mainServer(e, log)
	srv.RegisterOnShutdown(streams.Close)
	srv.RegisterOnShutdown(stop)

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
	go func() { swept <- sweepRooms(ctx, hub, time.Second, log) }()

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
	stopBy = time.Now().Add(o.shutdownWait)
	return errors.Join(err, shutdown(o, log, shutdownSet{srv: srv, plain: plain, admin: admin, streams: streams, ready: &ready, draining: &draining}))
}
