package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/views"
)

// transcriptWriteTimeout is how long one write of a transcript may wait on
// the client. The server has no write timeout of its own (it would end
// every event stream), and a reader that stops reading must not hold a
// handler for ever.
const transcriptWriteTimeout = 30 * time.Second

// A transcriptForm is one form of the transcript route: its file
// extension, its Content-Type and how it is written.
type transcriptForm struct {
	ext         string
	contentType string
	write       func(w *transcriptWriter, tr chat.Transcript, batch int) error
}

var (
	textTranscript = transcriptForm{"txt", "text/plain; charset=utf-8", writeTextTranscript}
	jsonTranscript = transcriptForm{"json", "application/json", writeJSONTranscript}
)

// showTranscript is everything a room keeps, oldest first, as a file to
// download: text or JSON (see form). Anyone may read it, as anyone may
// read the room's stream (room names are not secrets). It is written as it
// is opened, batch records at a time (cfg.TranscriptBatch), up to the
// room's newest event when the request came; events appended meanwhile are
// not in it. If the room is dropped, or its retention overtakes the
// writing, the transcript ends with a line (text) or field (JSON) that says
// so. An unknown room is a 404.
func showTranscript(hub *chat.Hub, cfg Config, form transcriptForm) echo.HandlerFunc {
	return func(c echo.Context) error {
		tr, err := hub.Transcript(c.Param("room"))
		if err != nil {
			return err
		}
		log := requestLog(c, cfg.Logger) // its lines carry the request's id
		w := &transcriptWriter{w: c.Response(), rc: http.NewResponseController(c.Response()), at: time.Now().UTC(), log: log, stop: cfg.Stop}
		h := c.Response().Header()
		h.Set("Content-Type", form.contentType)
		h.Set("Content-Disposition", transcriptDisposition(tr.Room, w.at, form.ext))
		h.Set("Cache-Control", "no-store")
		if c.Request().Method == http.MethodHead {
			return c.NoContent(http.StatusOK)
		}
		// While it is written, a transcript holds one of its client's
		// stream places (--client-streams), as an event stream does.
		release, err := openStream(c, cfg.Limits)
		if err != nil {
			return err
		}
		defer release()
		// The last write's deadline also bounds what net/http flushes once
		// the handler returns; it clears the deadline after the response.
		c.Response().WriteHeader(http.StatusOK)
		if w.stop != nil {
			// A write blocked on the client when the server stops ends
			// at once: its deadline becomes now.
			defer context.AfterFunc(w.stop, func() { _ = w.rc.SetWriteDeadline(time.Now()) })()
		}
		if err := form.write(w, tr, cfg.TranscriptBatch); err != nil {
			// The client went away or stopped reading: nothing to answer.
			log.Debug("transcript not written to its end", "room", tr.Room, "err", err)
		}
		return nil
	}
}

// transcriptWriter writes a transcript to the client, each write within
// transcriptWriteTimeout.
type transcriptWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	at  time.Time // when the transcript was made
	log *slog.Logger
	// stop ends when the server shuts down (Config.Stop); nil never does.
	stop context.Context
}

// errShutdown ends a transcript the server stopped writing.
var errShutdown = errors.New("the server is shutting down")

func (w *transcriptWriter) Write(p []byte) (int, error) {
	if w.stopped() {
		return 0, errShutdown
	}
	if err := w.rc.SetWriteDeadline(time.Now().Add(transcriptWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	// The stop may have come between the check and the new deadline,
	// which would have undone the one it set.
	if w.stopped() {
		_ = w.rc.SetWriteDeadline(time.Now())
	}
	return w.w.Write(p)
}

func (w *transcriptWriter) stopped() bool { return w.stop != nil && w.stop.Err() != nil }

func (w *transcriptWriter) line(s string) error {
	_, err := io.WriteString(w, s+"\n")
	return err
}

// cutShort is the sentence that says why a transcript ends early. A
// record that does not open is the server's fault, and logged.
func (w *transcriptWriter) cutShort(room string, err error) string {
	switch {
	case errors.Is(err, chat.ErrRoomGone):
		return "The room was dropped while this was being written (it had no members and nothing happened in it for a while), and what it kept with it."
	case errors.Is(err, chat.ErrOvertaken):
		return "More was posted meanwhile than the room keeps, so the events that came next were gone before they could be written; download it again."
	}
	w.log.Error("transcript cut short", "room", room, "err", err)
	return "An event could not be opened on the server."
}

// writeTextTranscript writes the text form (views.TranscriptEntry): a
// header line, the entries, and a last line saying whether it is complete.
func writeTextTranscript(w *transcriptWriter, tr chat.Transcript, batch int) error {
	if err := w.line(views.TranscriptHeader(tr.Room, tr.First, tr.Last, w.at)); err != nil {
		return err
	}
	var n, last uint64
	for ev, err := range tr.Events(batch) {
		if err != nil {
			return w.line(views.TranscriptCut(w.cutShort(tr.Room, err), n, last))
		}
		if err := w.line(views.TranscriptEntry(ev)); err != nil {
			return err
		}
		n, last = n+1, ev.ID
	}
	return w.line(views.TranscriptEnd(n, last))
}

// transcriptEnd is the JSON transcript's fields after its events: start
// and newest as the JSON history page has them (the events begin at the
// oldest kept; newest is the room's newest id when the transcript was
// made, and its last event's); complete false, and error why, when it
// could not be written to its end.
type transcriptEnd struct {
	Start    bool   `json:"start"`
	Newest   uint64 `json:"newest"`
	Complete bool   `json:"complete"`
	Error    string `json:"error,omitempty"`
}

// writeJSONTranscript writes the JSON form, one document shaped as the
// JSON history page (plus generated, complete and error):
//
//	{"room":"lobby","generated":"2026-11-30T21:30:00Z","events":[
//	{…},
//	{…}
//	],"start":true,"newest":1003,"complete":true}
//
// each event the object the JSON stream sends (views.JSONEvent), encoded
// as it is opened. A document cut off on the way does not parse, so a
// client cannot mistake it for a whole one.
func writeJSONTranscript(w *transcriptWriter, tr chat.Transcript, batch int) error {
	if _, err := fmt.Fprintf(w, `{"room":%s,"generated":%s,"events":[`+"\n", mustMarshal(tr.Room), mustMarshal(w.at)); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	end := transcriptEnd{Start: true, Newest: tr.Last, Complete: true}
	first := true
	for ev, err := range tr.Events(batch) {
		if err != nil {
			end.Complete, end.Error = false, w.cutShort(tr.Room, err)
			break
		}
		if !first {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		first = false
		if err := enc.Encode(json.RawMessage(views.JSONEvent(tr.Room, ev, false, nil, 0))); err != nil {
			return err
		}
	}
	tail := mustMarshal(end)
	_, err := io.WriteString(w, "],"+tail[1:]+"\n") // tail without its {
	return err
}

// mustMarshal is the JSON of a string, time or plain struct, which cannot
// fail.
func mustMarshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// maxFileRoom bounds the room's part of a transcript's file name, in
// characters.
const maxFileRoom = 64

// transcriptDisposition is the Content-Disposition of a room's transcript
// made at (its UTC date names the file), a file ext ("txt", "json"):
// attachment, with filename="cloakroom-<room>-<date>.<ext>" in ASCII
// letters, digits and "-_." only (anything else in the room's name is "_")
// and filename* (RFC 6266, RFC 8187) carrying the room's own name, UTF-8
// and percent-encoded. In both, the room's part is at most maxFileRoom
// characters, and what a file name must not hold (path separators,
// control, line-breaking and bidirectional characters, which could hide
// or reverse the extension) is "_".
func transcriptDisposition(room string, at time.Time, ext string) string {
	suffix := "-" + at.UTC().Format(time.DateOnly) + "." + ext
	var ascii, own []rune
	for _, r := range room {
		if len(own) == maxFileRoom {
			break
		}
		if r == '/' || r == '\\' || fileHidden(r) {
			r = '_'
		}
		own = append(own, r)
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			r = '_'
		}
		ascii = append(ascii, r)
	}
	return `attachment; filename="cloakroom-` + string(ascii) + suffix + `"; filename*=UTF-8''` +
		extValue("cloakroom-"+string(own)+suffix)
}

// fileHidden reports whether r is no part of a file name to offer: a tab,
// what views.Disruptive is, or an invalid byte (read as U+FFFD).
func fileHidden(r rune) bool {
	return r == '\t' || r == unicode.ReplacementChar || views.Disruptive(r)
}

// extValue percent-encodes s as RFC 8187's value-chars: every byte but
// attr-char.
func extValue(s string) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)*3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c < 0x80 && isAttrPunct(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// isAttrPunct reports whether c is one of attr-char's punctuation (RFC
// 8187 §3.2.1): "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" /
// "|" / "~".
func isAttrPunct(c byte) bool {
	switch c {
	case '!', '#', '$', '&', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
