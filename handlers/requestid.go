package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/labstack/echo/v4"
)

// requestIDHeader carries a request's id, in the request from a client or a
// proxy that chose one, and in every response.
const requestIDHeader = "X-Request-ID"

// maxRequestID is the longest request id kept from a client, in bytes. A
// UUID (36) and nginx's $request_id (32 hex) fit.
const maxRequestID = 64

// saneRequestID reports whether id, as a client sent it, may be kept: 1 to
// maxRequestID characters of A-Z, a-z, 0-9 and "-", "_", ".", ":". Nothing
// else: an id goes into every log line of its request and into error pages,
// so it must not be able to break a line, a quoted field or HTML, nor make
// the log much longer.
func saneRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// newRequestID is a fresh request id: 16 hex digits (64 random bits), which
// do not repeat in any log one server writes.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24 on)
	return hex.EncodeToString(b[:])
}

// Where a request's id and logger are kept in its echo.Context.
const (
	requestIDKey  = "cloakroom.requestID"
	requestLogKey = "cloakroom.log"
)

// requestID gives each request its id, the client's X-Request-ID if sane
// (see saneRequestID), else a new one, and sends it back in the response's
// X-Request-ID. It keeps, for the request, log with the id as the
// attribute request_id: every line written while serving the request goes
// through that logger (see requestLog), the lines of a stream that goes on
// after its handler returned included. It must be the outermost middleware,
// so that the access line and the answer to any error have the id.
func requestID(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(requestIDHeader)
			if !saneRequestID(id) {
				id = newRequestID()
			}
			c.Response().Header().Set(requestIDHeader, id)
			c.Set(requestIDKey, id)
			c.Set(requestLogKey, log.With("request_id", id))
			return next(c)
		}
	}
}

// requestLog is the request's logger (see requestID), or fallback outside
// one (a handler tested without the middleware).
func requestLog(c echo.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := c.Get(requestLogKey).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// requestIDOf is the request's id, or "" outside requestID.
func requestIDOf(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}
