package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/views"
)

// showHistory is a page of a room's kept events before an id
// (?before=, absent or 0 for the newest; ?limit=, 1 to chat.MaxPage, else
// firstPage), oldest first. Anyone may read it, as anyone may read the
// room's stream. htmx gets the fragment that replaces the log's "older
// messages" entry; a browser without script gets a page of its own, with
// links to the pages either side.
func showHistory(hub *chat.Hub) echo.HandlerFunc {
	return func(c echo.Context) error {
		room, err := chat.RoomName(c.Param("room"))
		if err != nil {
			return err
		}
		var before uint64
		if v := c.QueryParam("before"); v != "" {
			if before, err = strconv.ParseUint(v, 10, 64); err != nil {
				return echo.NewHTTPError(http.StatusBadRequest, "before must be an event id (a decimal number)")
			}
		}
		limit := firstPage
		if v := c.QueryParam("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil {
				return chat.ErrInvalidLimit
			}
		}
		p, err := hub.History(room, before, limit)
		if err != nil {
			return err
		}
		h := views.History{Room: room, Events: p.Events, Start: p.Start}
		if isHTMX(c) {
			return render(c, http.StatusOK, views.HistoryFragment(h))
		}
		h.Limit = limit
		if n := len(p.Events); n > 0 && p.Events[n-1].ID < p.Last {
			// The page that follows ends limit events later, or with the
			// newest: it may overlap this one, but never leaves a gap.
			h.Newer = min(p.Events[n-1].ID+1+uint64(limit), p.Last+1)
		}
		if me, err := hub.Membership(session(c), room, 0); err == nil {
			h.Me = me.ID
		}
		return render(c, http.StatusOK, views.HistoryPage(h))
	}
}
