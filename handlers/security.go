package handlers

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/limits"
)

// contentSecurityPolicy allows only this origin's own scripts, styles and
// connections: no inline script or style, no eval, no framing.
const contentSecurityPolicy = "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries, and first
// decides whether the request came over HTTPS (see isHTTPS), for them and
// for the session cookie. hsts is Strict-Transport-Security's max-age, sent
// on HTTPS responses only (a browser ignores it over plain HTTP anyway, and
// it must not pin a name that is served over HTTP); 0 sends none.
func securityHeaders(proxies limits.Proxies, hsts time.Duration) echo.MiddlewareFunc {
	hstsValue := fmt.Sprintf("max-age=%d", int64(hsts/time.Second))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			https := overHTTPS(c.Request(), proxies)
			c.Set(httpsKey, https)
			h := c.Response().Header()
			if https && hsts > 0 {
				h.Set("Strict-Transport-Security", hstsValue)
			}
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("X-Frame-Options", "DENY")
			// A window this page opens (a link in a message) gets no handle
			// back to it, and neither does one that opened it.
			if trustworthy(c) {
				h.Set("Cross-Origin-Opener-Policy", "same-origin")
			}
			return next(c)
		}
	}
}

// httpsKey is the echo.Context key under which securityHeaders keeps
// whether the request came over HTTPS.
const httpsKey = "cloakroom.https"

// isHTTPS reports whether the request came over HTTPS, as securityHeaders
// found; false for a request it did not see.
func isHTTPS(c echo.Context) bool {
	https, _ := c.Get(httpsKey).(bool)
	return https
}

// overHTTPS reports whether r came over HTTPS: on a TLS connection of our
// own, or from a trusted proxy that says so in X-Forwarded-Proto. Echo's
// c.Scheme() is not used: it believes X-Forwarded-Proto (and three other
// headers) from any peer, so a client on plain HTTP could have the session
// cookie marked Secure, and HSTS sent, on its say-so.
func overHTTPS(r *http.Request, proxies limits.Proxies) bool {
	if r.TLS != nil {
		return true
	}
	if len(proxies) == 0 || !strings.EqualFold(lastForwardedProto(r.Header), "https") {
		return false
	}
	peer, err := limits.ParseAddr(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range proxies {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// lastForwardedProto is the last value of X-Forwarded-Proto, over all its
// lines and commas: the one the nearest proxy (the one trusted) added.
// Proxies that append to the header rather than replace it put what the
// client sent first, so the first value is the client's word.
func lastForwardedProto(h http.Header) string {
	vs := h.Values(echo.HeaderXForwardedProto)
	if len(vs) == 0 {
		return ""
	}
	last := vs[len(vs)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.TrimSpace(last)
}

// trustworthy reports whether browsers count the request's origin as
// potentially trustworthy (W3C Secure Contexts §3.1): HTTPS (isHTTPS: a
// trusted proxy's X-Forwarded-Proto included) or a loopback host. Only
// there do they apply Cross-Origin-Opener-Policy; elsewhere (plain http:// on a LAN address)
// Chromium ignores it and logs an error to the console on every page.
func trustworthy(c echo.Context) bool {
	if isHTTPS(c) {
		return true
	}
	host := c.Request().Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requestLogger logs one line per request: method, path, the status sent
// and the time taken. A handler's error is answered here, by answer (the
// error handler), before the line is written, so the line has the status
// that went out, whoever chose it; Echo then has no error left to handle.
// It is the outermost middleware but requestID, so that a refusal by any
// other (a cross-origin POST, a recovered panic) is logged too. The query (which may
// hold a name being joined) and the body (message text) are never logged,
// nor are cookies or the Authorization header (a bot's token). The line
// carries the request's id (see requestID).
func requestLogger(log *slog.Logger, answer func(error, echo.Context)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				answer(err, c)
			}
			requestLog(c, log).Info("request", "method", c.Request().Method, "path", loggedPath(c.Request()), "status", c.Response().Status,
				"duration_ms", float64(time.Since(start))/float64(time.Millisecond))
			return nil
		}
	}
}

// maxLoggedPath bounds the path a log line carries: a request's target
// may be as long as the 64 KiB header limit, and every line that names it
// would be as long. Routes' paths are short; a longer one is cut, with its
// length said.
const maxLoggedPath = 256

// loggedPath is r's path as log lines give it: "/" for none, cut after
// maxLoggedPath bytes (at a rune's start) with "…(N bytes)" after.
func loggedPath(r *http.Request) string {
	p := r.URL.Path
	if p == "" {
		return "/"
	}
	if len(p) <= maxLoggedPath {
		return p
	}
	cut := maxLoggedPath
	for cut > 0 && !utf8.RuneStart(p[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", p[:cut], len(p))
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
