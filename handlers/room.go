package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/views"
)

// firstPage is how many of the newest events the room page shows; older ones
// are loaded as the reader scrolls back.
const firstPage = 50

// showRoomPage renders a room for one of the browser's members in it (?m=,
// else its latest). A browser with no member there is sent to the join
// page, with the name it last had in the room filled in.
func showRoomPage(hub *chat.Hub) echo.HandlerFunc {
	return func(c echo.Context) error {
		room, err := chat.RoomName(c.Param("room"))
		if err != nil {
			return err
		}
		if room != c.Param("room") {
			u := *c.Request().URL
			u.Path = "/rooms/" + room
			return c.Redirect(http.StatusMovedPermanently, u.RequestURI())
		}
		id, err := memberParam(c.QueryParam("m"))
		if err != nil {
			return err
		}
		owner := session(c)
		me, err := hub.Membership(owner, room, id)
		if errors.Is(err, chat.ErrNotMember) {
			q := url.Values{"room": {room}}
			if name, ok := hub.Departed(owner, room); ok {
				q.Set("username", name)
			}
			return c.Redirect(http.StatusSeeOther, "/?"+q.Encode())
		}
		if err != nil {
			return err
		}
		p, err := hub.History(room, 0, firstPage)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.RoomPage(views.Room{
			Name: room, Me: me, Events: p.Events, Start: p.Start, Members: p.Members, Seq: p.Seq, Last: p.Last,
		}))
	}
}
