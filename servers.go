package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloakroom/cloakroom/handlers"
)

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

// mainServer is the server of --addr, for h (the whole HTTP surface).
func mainServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
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
}

// redirectServer is the server of --http-addr: it only redirects to HTTPS
// (and answers ACME's HTTP-01 challenges), so its timeouts are short.
func redirectServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// shutdownSet is what shutdown ends: the main server, the redirecting and
// the metrics servers when there are (nil otherwise), the event streams,
// and the flags /readyz and the drain read.
type shutdownSet struct {
	srv, plain, admin *http.Server
	streams           *handlers.Streams
	ready, draining   *atomic.Bool
}

// shutdown ends serving within --shutdown-timeout, answering everyone.
// During the drain (--shutdown-drain) the server still accepts and reads
// every connection, and answers each new request with 503 and Connection:
// close (a balancer's health check sees it going), so a client that sends
// on a connection it kept gets an answer and closes it. Only then are
// keep-alives turned off and the idle connections closed
// (SetKeepAlivesEnabled(false) closes them at once, which would race a
// client sending on one; after the drain only clients silent all through it
// still hold one), the server stops accepting, waits for what is in flight,
// and ends the streams. The metrics address answers to the end, so a scrape
// sees the drain.
func shutdown(o options, log *slog.Logger, set shutdownSet) error {
	log.Info("shutting down", "drain", o.drain.String())
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownWait)
	defer cancel()
	set.ready.Store(false)
	set.draining.Store(true)
	select {
	case <-time.After(o.drain):
	case <-ctx.Done():
	}
	set.srv.SetKeepAlivesEnabled(false)
	if set.plain != nil {
		_ = set.plain.Close() // it only redirects: nothing in flight worth waiting for
	}
	if err := set.srv.Shutdown(ctx); err != nil {
		set.srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	set.streams.Wait(ctx)
	// What the metrics address has in flight finishes within what is left
	// of the timeout.
	if set.admin != nil {
		if err := set.admin.Shutdown(ctx); err != nil {
			return fmt.Errorf("shut down metrics: %w", err)
		}
	}
	return nil
}
