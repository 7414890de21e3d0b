package handlers

import (
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// contentSecurityPolicy allows only this origin's own scripts, styles and
// connections: no inline script or style, no eval, no framing.
const contentSecurityPolicy = "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

// requestLogger logs one line per request: method, path, status and time.
// The query (which may hold a name being joined) and the body (message
// text) are never logged, nor are cookies or the Authorization header (a
// bot's token).
func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod:  true,
		LogURIPath: true,
		LogStatus:  true,
		LogLatency: true,
		LogError:   true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			status := v.Status
			if v.Error != nil && !c.Response().Committed {
				// The error handler has not answered yet; this is the
				// status it will answer with (Echo only knows its own
				// HTTPError's).
				status = statusOf(v.Error)
			}
			log.Info("request", "method", v.Method, "path", v.URIPath, "status", status,
				"duration_ms", float64(v.Latency)/float64(time.Millisecond))
			return nil
		},
	})
}

func isHTMX(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}

// wantsHTML tells a browser navigating without htmx from curl and scripts,
// which are better served plain text.
func wantsHTML(c echo.Context) bool {
	return !isHTMX(c) && strings.Contains(c.Request().Header.Get("Accept"), "text/html")
}

// refuseWhileDraining answers every request with 503 and Connection: close
// once draining is true, health checks included, so that a balancer stops
// sending clients here while the requests already in flight finish.
func refuseWhileDraining(draining *atomic.Bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !draining.Load() {
				return next(c)
			}
			c.Response().Header().Set("Connection", "close")
			c.Response().Header().Set("Retry-After", "1")
			return echo.NewHTTPError(http.StatusServiceUnavailable, "the server is shutting down")
		}
	}
}
