package handlers

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/limits"
)

// posted is the JSON answer to a post: the id the message took in the room.
type posted struct {
	ID uint64 `json:"id"`
}

// postMessage adds a message to a room as one of the browser's members
// (form field m, else its latest), or as a bearer token's member. The sender
// is the server's record of that member, never a name from the form. Past
// the member's or the client's post limit it is a 429. onPost, if not nil,
// is told how long each successful post took.
func postMessage(hub *chat.Hub, lim *limits.Limits, onPost func(time.Duration)) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		form, who, err := memberForm(c, hub)
		if err != nil {
			return err
		}
		cid, err := clientID(form["cid"], c.Request().Header.Values(idempotencyKey))
		if err != nil {
			return err
		}
		if who, err = spendPost(c, hub, lim, who); err != nil {
			return err
		}
		room := c.Param("room")
		// A repeat (the same cid) gets the first post's event, and so the
		// same answer below.
		ev, err := hub.Post(who.owner, room, who.id, form.Get("text"), cid)
		if err != nil {
			return who.gone(err)
		}
		if onPost != nil {
			onPost(time.Since(start))
		}
		switch {
		case isHTMX(c):
			// The page's script clears the composer; the message itself
			// arrives through the room's stream like everyone else's.
			return c.NoContent(http.StatusNoContent)
		case wantsJSON(c):
			return c.JSON(http.StatusCreated, posted{ID: ev.ID})
		}
		name, _ := chat.RoomName(room)
		return c.Redirect(http.StatusSeeOther, roomURL(name, who.id))
	}
}

// postLeave takes one of the browser's members, or a bearer token's member,
// out of a room.
func postLeave(hub *chat.Hub) echo.HandlerFunc {
	return func(c echo.Context) error {
		_, who, err := memberForm(c, hub)
		if err != nil {
			return err
		}
		if err := hub.Leave(who.owner, c.Param("room"), who.id); err != nil {
			return who.gone(err)
		}
		if wantsJSON(c) {
			return c.NoContent(http.StatusNoContent)
		}
		return c.Redirect(http.StatusSeeOther, "/")
	}
}

// memberForm reads a form that acts as a member of the request's room.
func memberForm(c echo.Context, hub *chat.Hub) (url.Values, actor, error) {
	form, err := readForm(c)
	if err != nil {
		return nil, actor{}, err
	}
	who, err := actorOf(c, hub, c.Param("room"), form.Get("m"))
	return form, who, err
}
