package handlers

import (
	"encoding/json"
	"net/http"
	"slices"
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
		if wantsJSON(c) {
			return historyJSON(c, hub, room, before, limit)
		}
		if c.QueryParam("after") != "" {
			return echo.NewHTTPError(http.StatusBadRequest, "after= is for JSON clients (Accept: application/json); pages of the room use before=")
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

// historyPage is the JSON answer of the history route: events oldest first,
// each the object the JSON stream sends; start when they begin at the
// oldest event the room keeps; newest is the room's newest id.
type historyPage struct {
	Room   string            `json:"room"`
	Events []json.RawMessage `json:"events"`
	Start  bool              `json:"start"`
	Newest uint64            `json:"newest"`
}

// historyJSON answers a JSON client: with ?after=, the kept events after
// that id (below before, if given), oldest first; else the newest before
// before, as the HTML pages are.
func historyJSON(c echo.Context, hub *chat.Hub, room string, before uint64, limit int) error {
	var p chat.Page
	var err error
	if v := c.QueryParam("after"); v != "" {
		after, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "after must be an event id (a decimal number)")
		}
		p, err = hub.After(room, after, limit)
		if before != 0 {
			p.Events = slices.DeleteFunc(p.Events, func(ev chat.Event) bool { return ev.ID >= before })
		}
	} else {
		p, err = hub.History(room, before, limit)
	}
	if err != nil {
		return err
	}
	out := historyPage{Room: room, Events: make([]json.RawMessage, 0, len(p.Events)), Start: p.Start, Newest: p.Last}
	for _, ev := range p.Events {
		out.Events = append(out.Events, views.JSONEvent(room, ev, false, nil, 0))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}
