package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/fanout"
	"github.com/cloakroom/cloakroom/limits"
)

// Config holds the HTTP layer's settings. Zero fields take defaults.
type Config struct {
	Logger *slog.Logger
	// MaxLag is how old a stream's oldest event not yet taken by the
	// reader's host may grow before the reader is cut off (it resumes with
	// Last-Event-ID); see fanout.Config.
	MaxLag time.Duration
	// Coalesce is the shortest time between two writes to each reader of
	// a busy room; see fanout.Config.
	Coalesce time.Duration
	// Draining, when set and true, has every new request answered with 503
	// and Connection: close: the server is shutting down (see main.go).
	Draining *atomic.Bool
	// Heartbeat is how often an idle stream is sent a comment, so proxies and
	// clients can tell a quiet room from a dead connection.
	Heartbeat time.Duration
	// Limits are the per-client limits; nil limits nothing.
	Limits *limits.Limits
	// TrustedProxies are the peers whose X-Forwarded-For or X-Real-IP
	// names the client a request counts as; nil trusts nobody.
	TrustedProxies limits.Proxies
	// HSTS is the max-age of the Strict-Transport-Security header sent on
	// HTTPS responses (over our TLS, or a trusted proxy's); 0 sends none.
	HSTS time.Duration
	// Stop, when set, ends when the server shuts down (main cancels it as
	// Shutdown begins, after the drain): a transcript still being written
	// then stops, as event streams do, so that a client that stopped
	// reading one cannot hold the shutdown to its timeout.
	Stop context.Context
	// TranscriptBatch is how many sealed records a transcript reads under
	// its room's lock at once; 0 is chat.DefaultTranscriptBatch.
	TranscriptBatch int
	// Ready, when set, says whether the server takes traffic: /readyz is
	// 503 while it is false. nil is ready whenever the server answers.
	Ready func() bool
	// Metrics, when set, is served at /metrics (metrics on the main
	// address; see Admin for an address of their own).
	Metrics http.Handler
	// OnPost, when set, is told how long each successful post took, from
	// its handler's start (the request's head read) to the message
	// appended and handed to the streams.
	OnPost func(time.Duration)
	// OnStreamWrite, when set, is told the frames of each live write to a
	// reader (fanout.Config.OnWrite).
	OnStreamWrite func(frames int)
	// Owner, when set, maps a browser's session id to the owner its members
	// belong to in chat (an HMAC of it under the master key in production:
	// the same on every node, and no session id kept in a room's state); nil
	// uses the session id itself.
	Owner func(session string) string
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxLag <= 0 {
		c.MaxLag = fanout.DefaultMaxLag
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 20 * time.Second
	}
	return c
}

// New returns the whole HTTP surface of Cloakroom.
func New(hub *chat.Hub, streams *Streams, cfg Config) *echo.Echo {
	cfg = cfg.withDefaults()
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	// Only trusted proxies may say whom they forward for; nothing else is
	// believed about a client's address.
	e.IPExtractor = clientAddress(cfg.TrustedProxies)
	e.HTTPErrorHandler = errorHandler(cfg.Logger)

	e.Use(requestID(cfg.Logger))
	e.Use(requestLogger(cfg.Logger, e.HTTPErrorHandler))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: logPanic(cfg.Logger)}))
	if cfg.Draining != nil {
		e.Use(refuseWhileDraining(cfg.Draining))
	}
	e.Use(securityHeaders(cfg.TrustedProxies, cfg.HSTS))
	e.Use(crossOrigin(http.NewCrossOriginProtection()))
	if cfg.Owner != nil {
		e.Use(withOwner(cfg.Owner))
	}

	// HEAD is answered wherever GET is, with GET's status and headers and
	// no body: net/http drops what a handler writes, and the event stream
	// answers its head without starting.
	get := func(path string, h echo.HandlerFunc) { e.Match([]string{http.MethodGet, http.MethodHead}, path, h) }

	get("/", showJoinPage)
	e.POST("/join", postJoin(hub, cfg.Limits))
	get("/rooms/:room", showRoomPage(hub))
	get("/rooms/:room/messages", showHistory(hub))
	e.POST("/rooms/:room/messages", postMessage(hub, cfg.Limits, cfg.OnPost))
	e.POST("/rooms/:room/leave", postLeave(hub))
	get("/rooms/:room/events", streamEvents(hub, streams, cfg.Limits))
	get("/rooms/:room/transcript.txt", showTranscript(hub, cfg, textTranscript))
	get("/rooms/:room/transcript.json", showTranscript(hub, cfg, jsonTranscript))
	get("/healthz", healthz)
	get("/readyz", echo.WrapHandler(readyz(cfg.Ready)))
	if cfg.Metrics != nil {
		get("/metrics", echo.WrapHandler(cfg.Metrics))
	}
	get("/static/*", staticFiles())
	get("/favicon.ico", favicon) // asked for by browsers and tools that ignore <link rel=icon>
	return e
}

func healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok")
}

// Admin is what a metrics address of its own serves: the metrics, and
// /readyz as on the main address, for an orchestrator that probes there.
// It is plain net/http: no session, no page, nothing of the chat.
func Admin(metrics http.Handler, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("GET /readyz", readyz(ready))
	return mux
}

// readyz answers 200 "ready" while the server takes traffic and 503
// otherwise: before it serves, and from the start of its shutdown (the
// drain) on. /healthz, by contrast, says only that the process answers.
func readyz(ready func() bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		if ready != nil && !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready")
			return
		}
		_, _ = io.WriteString(w, "ready")
	}
}
