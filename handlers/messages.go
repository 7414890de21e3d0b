package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
)

// postMessage adds a message to a room as one of the browser's members
// (form field m, else its latest). The sender is the server's record of that
// member, never a name from the form.
func postMessage(hub *chat.Hub) echo.HandlerFunc {
	return func(c echo.Context) error {
		form, id, err := memberForm(c)
		if err != nil {
			return err
		}
		room := c.Param("room")
		if _, err := hub.Post(session(c), room, id, form.Get("text")); err != nil {
			return err
		}
		if isHTMX(c) {
			// The page's script clears the composer; the message itself
			// arrives through the room's stream like everyone else's.
			return c.NoContent(http.StatusNoContent)
		}
		name, _ := chat.RoomName(room)
		return c.Redirect(http.StatusSeeOther, roomURL(name, id))
	}
}

// postLeave takes one of the browser's members out of a room.
func postLeave(hub *chat.Hub) echo.HandlerFunc {
	return func(c echo.Context) error {
		_, id, err := memberForm(c)
		if err != nil {
			return err
		}
		if err := hub.Leave(session(c), c.Param("room"), id); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/")
	}
}

// memberForm reads a form that acts as one of the browser's members.
func memberForm(c echo.Context) (url.Values, uint64, error) {
	form, err := readForm(c)
	if err != nil {
		return nil, 0, err
	}
	id, err := memberParam(form.Get("m"))
	return form, id, err
}
