package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/fanout"
	"github.com/cloakroom/cloakroom/limits"
)

// resetNotice is the data of the reset event.
const resetNotice = "Your place in this room's history is gone (the server restarted, or too much happened while you were away); what the room still keeps follows."

// streamEvents is a room's event stream. Anyone may read it. A reader that
// names its browser's members (?m=, repeated; ?idle= for those whose tabs
// are all hidden) keeps them present while connected. The resume point is
// Last-Event-ID, else ?since=; with neither, only live events are sent. A bearer token keeps its own member present
// instead (and a wrong token is refused, as for posting). The data is HTML,
// JSON or text (see streamFormat). Each stream counts against its client's
// open streams until it ends (a 429 past them).
func streamEvents(hub *chat.Hub, streams *Streams, lim *limits.Limits) echo.HandlerFunc {
	return func(c echo.Context) error {
		room, err := chat.RoomName(c.Param("room"))
		if err != nil {
			return err
		}
		since, resume, err := resumePoint(c)
		if err != nil {
			return err
		}
		f, err := streamFormat(c)
		if err != nil {
			return err
		}
		owner := session(c)
		binds, err := bindParams(c.QueryParams())
		if err != nil {
			return err
		}
		if _, bearer := bearerToken(c.Request()); bearer {
			who, err := actorOf(c, hub, room, "")
			if err != nil {
				return err
			}
			owner, binds = who.owner, []chat.Bind{{Member: who.id}}
		}
		if c.Request().Method == http.MethodHead {
			// The answer's head only: no stream, no reader counted, and the
			// connection stays net/http's.
			setStreamHeaders(c.Response().Header())
			return c.NoContent(http.StatusOK)
		}
		release, err := openStream(c, lim)
		if err != nil {
			return err
		}
		detach, err := hub.Attach(owner, room, binds...)
		if err != nil {
			release()
			return err
		}

		backlog := func() (func(add func([]byte) error) error, uint64, error) {
			if !resume {
				// Live events only: those after the room's newest now.
				last, err := hub.LiveFrom(room)
				return func(func([]byte) error) error { return nil }, last, err
			}
			b, err := hub.Backlog(room, since)
			if errors.Is(err, chat.ErrNoRoom) {
				// The stream waits for the room. A reader resuming from an
				// id (of the room's earlier life) is sent the reset that
				// begins the room's next life; since=0 had no place.
				return func(func([]byte) error) error { return nil }, since, nil
			}
			if err != nil {
				return nil, 0, err
			}
			return func(add func([]byte) error) error { return sendBacklog(add, b, room, f) }, b.Last, nil
		}
		return streams.serve(c, streamKey(room, f), backlog, func() {
			detach()
			release()
		})
	}
}

// maxBinds bounds the members one stream may keep present: far above the
// names one browser may hold in a room, which is what a shared stream binds.
const maxBinds = 64

// bindParams reads the members a stream keeps present: each m=ID, shown
// idle when also listed as idle=ID (an idle=ID alone counts too).
func bindParams(q url.Values) ([]chat.Bind, error) {
	ids := slices.Concat(q["m"], q["idle"])
	if len(ids) > maxBinds {
		return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("a stream may keep at most %d members present", maxBinds))
	}
	idle := make(map[uint64]bool)
	for _, v := range q["idle"] {
		id, err := memberParam(v)
		if err != nil {
			return nil, err
		}
		idle[id] = true
	}
	binds := make([]chat.Bind, 0, len(ids))
	for _, v := range ids {
		id, err := memberParam(v)
		if err != nil {
			return nil, err
		}
		binds = append(binds, chat.Bind{Member: id, Idle: idle[id]})
	}
	return binds, nil
}

// resumePoint reads Last-Event-ID, else ?since=.
func resumePoint(c echo.Context) (since uint64, resume bool, err error) {
	v, what := c.Request().Header.Get("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, what = c.QueryParam("since"), "since"
	}
	if v == "" {
		return 0, false, nil
	}
	since, err = strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, echo.NewHTTPError(http.StatusBadRequest, what+" must be an event id (a decimal number)")
	}
	return since, true, nil
}

// sendBacklog sends a reader what it missed: a reset first when its resume
// point was not in the room's history, then the retained events, then the
// member list as it is now, once (a long backlog does not repeat it), all
// in the format f.
func sendBacklog(send func([]byte) error, b chat.Backlog, room string, f format) error {
	var buf bytes.Buffer
	if b.Reset {
		fanout.AppendEvent(&buf, b.From, resetEvent, f.reset(b.From))
	}
	for ev, err := range b.Events() {
		if err != nil {
			return err
		}
		fanout.AppendEvent(&buf, ev.ID, "", f.event(room, ev, false, nil, 0))
		if err := send(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
	}
	fanout.AppendEvent(&buf, b.Last, membersEvent, f.members(room, b.Last, b.Members, b.Seq))
	return send(buf.Bytes())
}
