package handlers

import (
	"bytes"
	"context"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/views"
)

// A format is what the data of a room's event stream is written in. Every
// format keeps the same stream: the same ids, event names, resume, reset and
// keepalives; only the data differs.
type format uint8

const (
	formatHTML format = iota // the page's HTML fragments (the default)
	formatJSON               // one JSON object per event (views.JSONEvent)
	formatText               // lines for a terminal (views.PlainEvent)
)

// formats lists every format, for Publish and Dropped.
var formats = [...]format{formatHTML, formatJSON, formatText}

// formatNames are the values of ?format=.
var formatNames = [...]string{formatHTML: "html", formatJSON: "json", formatText: "text"}

// streamFormat reads the format a reader asks for: ?format= (html, json or
// text), else JSON when Accept lists application/json, else HTML.
func streamFormat(c echo.Context) (format, error) {
	if v := c.QueryParam("format"); v != "" {
		for f, name := range formatNames {
			if v == name {
				return format(f), nil
			}
		}
		return 0, echo.NewHTTPError(http.StatusBadRequest, "format must be html, json or text")
	}
	for part := range strings.SplitSeq(c.Request().Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(part); err == nil && mt == "application/json" {
			return formatJSON, nil
		}
	}
	return formatHTML, nil
}

// streamKey names the fanout topic that carries a room's events in f. Room
// names never hold a slash, so keys of different rooms cannot meet; HTML's
// key is the room's name alone.
func streamKey(room string, f format) string {
	if f == formatHTML {
		return room
	}
	return room + "/" + formatNames[f]
}

// event is the data of a history event. withRoster adds the member list
// after it (for a live join or leave); a replayed join or leave has none.
// It is never empty: a client may treat an event with no data as none.
func (f format) event(room string, ev chat.Event, withRoster bool, members []chat.Member, seq uint64) []byte {
	switch f {
	case formatJSON:
		return views.JSONEvent(room, ev, withRoster, members, seq)
	case formatText:
		return []byte(views.PlainEvent(ev))
	}
	var buf bytes.Buffer
	_ = views.EventItem(ev, 0).Render(context.Background(), &buf) // a bytes.Buffer cannot fail
	if withRoster {
		buf.Write(f.members(room, 0, members, seq))
	}
	return buf.Bytes()
}

// members is the data of a members event; id is the event's id.
func (f format) members(room string, id uint64, members []chat.Member, seq uint64) []byte {
	switch f {
	case formatJSON:
		return views.JSONMembers(room, id, members, seq)
	case formatText:
		return []byte(views.PlainMembers(members))
	}
	var buf bytes.Buffer
	_ = views.MemberList(members, seq, 0, true).Render(context.Background(), &buf)
	return buf.Bytes()
}

// reset is the data of a reset event whose id is id.
func (f format) reset(id uint64) []byte {
	if f == formatJSON {
		return views.JSONReset(id, resetNotice)
	}
	return []byte(resetNotice)
}
