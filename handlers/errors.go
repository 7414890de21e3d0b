package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/views"
)

// isBusy says whether err is a shared store's passing trouble: other nodes
// kept winning a room's compare-and-set, or NATS could not be reached in
// time. Both are answered 503 with Retry-After: 1.
func isBusy(err error) bool { return chat.Passing(err) }

// statusOf maps the domain's errors to HTTP statuses; this is the one place
// that does.
func statusOf(err error) int {
	switch {
	case errors.Is(err, chat.ErrInvalidRoom), errors.Is(err, chat.ErrInvalidName), errors.Is(err, chat.ErrMixedScripts),
		errors.Is(err, chat.ErrEmptyMessage), errors.Is(err, chat.ErrInvalidText), errors.Is(err, chat.ErrDirectionOverride), errors.Is(err, chat.ErrInvalidLimit):
		return http.StatusBadRequest
	case errors.Is(err, chat.ErrMessageTooLong):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, chat.ErrClientIDReused):
		return http.StatusUnprocessableEntity
	case isClientIDError(err):
		return http.StatusBadRequest
	case errors.Is(err, chat.ErrNotMember), errors.Is(err, errTokenRoom):
		return http.StatusForbidden
	case errors.Is(err, errInvalidToken):
		return http.StatusUnauthorized
	case errors.Is(err, chat.ErrNameTaken), errors.Is(err, chat.ErrRoomFull), errors.Is(err, chat.ErrTooManyNames):
		return http.StatusConflict
	case errors.Is(err, chat.ErrTooManyRooms), errors.Is(err, chat.ErrTooManyReaders), isBusy(err):
		return http.StatusServiceUnavailable
	case errors.Is(err, chat.ErrNoRoom):
		return http.StatusNotFound
	}
	var he *echo.HTTPError
	var slow *slowDown
	switch {
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &slow):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// userMessage is the sentence shown for an error: the domain's own words
// without the package prefix, or the status text.
func userMessage(err error, status int) string {
	var he *echo.HTTPError
	switch {
	case status == http.StatusInternalServerError:
		return "Something went wrong on the server."
	case isBusy(err): // its words would name the store and its failure
		return "The server could not store this just now; try again in a moment."
	case errors.As(err, &he):
		if s, ok := he.Message.(string); ok {
			return sentence(s)
		}
		return http.StatusText(status)
	}
	return sentence(strings.TrimPrefix(err.Error(), "chat: "))
}

func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// errorHandler answers a request's error: as JSON for JSON clients, a page
// for a browser navigating, else one line of text. Each names the request's
// id (see requestID), for the user to quote to whoever runs the server. A
// 5xx is logged at error level, any other refusal at debug level; the
// errors' words never hold what a client sent (no names, no text).
func errorHandler(log *slog.Logger) func(error, echo.Context) {
	return func(err error, c echo.Context) {
		log := requestLog(c, log)
		status := statusOf(err)
		switch {
		case status == http.StatusServiceUnavailable:
			// A refusal the server chose (a limit, its shutdown, a
			// shared store's passing trouble), not a fault: a warning.
			log.Warn("request refused", "method", c.Request().Method, "path", loggedPath(c.Request()), "status", status, "err", err)
		case status >= 500:
			log.Error("request failed", "method", c.Request().Method, "path", loggedPath(c.Request()), "status", status, "err", err)
		default:
			log.Debug("request refused", "method", c.Request().Method, "path", loggedPath(c.Request()), "status", status, "err", err)
		}
		if c.Response().Committed {
			return
		}
		msg := userMessage(err, status)
		id := requestIDOf(c)
		// RFC 6750: a refused token says so, and how, in WWW-Authenticate.
		var slow *slowDown
		switch {
		case errors.As(err, &slow): // RFC 9110 §10.2.3: when to come back
			c.Response().Header().Set("Retry-After", strconv.Itoa(slow.seconds()))
		case isBusy(err):
			c.Response().Header().Set("Retry-After", "1")
		case errors.Is(err, errInvalidToken):
			c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		case errors.Is(err, errTokenRoom):
			c.Response().Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		}
		// HEAD is answered as GET would be, headers and all; net/http
		// drops the body.
		if wantsJSON(c) {
			err = c.JSON(status, jsonError{Error: msg, Field: fieldOf(err), RequestID: id})
		} else if wantsHTML(c) {
			err = render(c, status, views.ErrorPage(status, msg, backFrom(c), id))
		} else {
			err = c.String(status, errorLine(msg, id))
		}
		if err != nil {
			log.Error("write error response", "err", err)
		}
	}
}

// errorLine is an error as one line of text: the sentence, then the
// request's id in brackets, "That name is taken in this room. (request
// 3f2a9c01d4e5b6a7)", and a line feed.
func errorLine(msg, id string) string {
	if id == "" {
		return msg + "\n"
	}
	return msg + " (request " + id + ")\n"
}

// logPanic logs a handler's panic, with its goroutine's stack, on the
// request's logger; the error handler then answers it with 500.
func logPanic(log *slog.Logger) middleware.LogErrorFunc {
	return func(c echo.Context, err error, stack []byte) error {
		requestLog(c, log).Error("handler panicked", "err", err, "stack", string(stack))
		return err
	}
}

// jsonError is an error as JSON clients read it: the sentence a person would
// see, and the form field it is about, if any.
type jsonError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
	// RequestID is the request's id (its X-Request-ID), to quote to
	// whoever runs the server.
	RequestID string `json:"request_id,omitempty"`
}

// fieldOf names the form field an error is about, or "" for none.
func fieldOf(err error) string {
	switch {
	case errors.Is(err, chat.ErrInvalidRoom), errors.Is(err, chat.ErrRoomFull), errors.Is(err, chat.ErrTooManyRooms):
		return "room"
	case errors.Is(err, chat.ErrInvalidName), errors.Is(err, chat.ErrMixedScripts), errors.Is(err, chat.ErrNameTaken),
		errors.Is(err, chat.ErrTooManyNames):
		return "username"
	case errors.Is(err, chat.ErrEmptyMessage), errors.Is(err, chat.ErrInvalidText), errors.Is(err, chat.ErrDirectionOverride),
		errors.Is(err, chat.ErrMessageTooLong):
		return "text"
	case errors.Is(err, chat.ErrInvalidLimit):
		return "limit"
	case isClientIDError(err):
		return "cid"
	}
	return ""
}

// backFrom is where an error page's "go back" link leads: the room the
// request was about, or the join page.
func backFrom(c echo.Context) string {
	if room, err := chat.RoomName(c.Param("room")); err == nil {
		return "/rooms/" + room
	}
	return "/"
}
