package handlers

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
)

// render writes a page. It renders into a buffer first so that a failed
// render becomes an error response instead of half a page.
func render(c echo.Context, status int, page templ.Component) error {
	var buf bytes.Buffer
	if err := page.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// maxFormBytes bounds a form body. It must admit the largest message:
// MaxTextBytes once normalised, each byte percent-encoded to three, and each
// line break (one character, so at most MaxTextLength of them) perhaps sent
// as CRLF, one byte more before normalisation. The 4 KiB beyond that is for
// the field names, the member id and white space around the text. It comes
// to just under 64 KiB.
const maxFormBytes = 3*(chat.MaxTextBytes+chat.MaxTextLength) + 4<<10

// readForm parses a urlencoded body, telling a body that is too large (413)
// from a malformed one (400); Echo's FormValue would hide both.
func readForm(c echo.Context) (url.Values, error) {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "the form is larger than the server accepts")
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// http.Server.ReadTimeout passed while the body was on its way.
			// The rest of it is not coming: the connection ends here.
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return nil, echo.NewHTTPError(http.StatusRequestTimeout, "the request's body arrived too slowly; send it again")
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "the form could not be read")
	}
	return r.PostForm, nil
}

// memberParam reads the optional member id a page sends along ("m"): absent
// is 0, which means "this browser's latest member in the room".
func memberParam(v string) (uint64, error) {
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "m must be a member number")
	}
	return id, nil
}

// roomURL is the room page of a member.
func roomURL(room string, member uint64) string {
	if member == 0 {
		return "/rooms/" + room
	}
	return "/rooms/" + room + "?m=" + strconv.FormatUint(member, 10)
}
