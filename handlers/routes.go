package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/fanout"
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
	// Heartbeat is how often an idle stream is sent a comment, so proxies and
	// clients can tell a quiet room from a dead connection.
	Heartbeat time.Duration
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
	// Nothing here trusts X-Forwarded-For; a deployment behind a proxy that
	// needs real client addresses must set this deliberately.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = errorHandler(cfg.Logger)

	e.Use(requestLogger(cfg.Logger, e.HTTPErrorHandler))
	e.Use(middleware.Recover())
	e.Use(securityHeaders)
	e.Use(crossOrigin(http.NewCrossOriginProtection()))

	// HEAD is answered wherever GET is, with GET's status and headers and
	// no body: net/http drops what a handler writes, and the event stream
	// answers its head without starting.
	get := func(path string, h echo.HandlerFunc) { e.Match([]string{http.MethodGet, http.MethodHead}, path, h) }

	get("/", showJoinPage)
	e.POST("/join", postJoin(hub))
	get("/rooms/:room", showRoomPage(hub))
	get("/rooms/:room/messages", showHistory(hub))
	e.POST("/rooms/:room/messages", postMessage(hub))
	e.POST("/rooms/:room/leave", postLeave(hub))
	get("/rooms/:room/events", streamEvents(hub, streams))
	get("/healthz", healthz)
	get("/static/*", staticFiles())
	get("/favicon.ico", favicon) // asked for by browsers and tools that ignore <link rel=icon>
	return e
}

func healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok")
}
