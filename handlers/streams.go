package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/fanout"
)

// Streams carries each room's events to its readers over Server-Sent Events
// through a fanout.Hub, one topic per room and format (see streamKey). It
// keeps no history: what a reader missed is read from the room's sealed
// history when it connects.
type Streams struct {
	fan *fanout.Hub
	log *slog.Logger
}

// NewStreams returns a Streams with no readers; cfg gives its heartbeat and
// how far a reader may fall behind.
func NewStreams(cfg Config) *Streams {
	cfg = cfg.withDefaults()
	return &Streams{log: cfg.Logger, fan: fanout.New(fanout.Config{
		MaxLag:    cfg.MaxLag,
		Heartbeat: cfg.Heartbeat,
		Coalesce:  cfg.Coalesce,
		OnWrite:   cfg.OnStreamWrite,
	})}
}

// Stats returns the counts of the streams' fan-out (see fanout.Stats).
func (s *Streams) Stats() fanout.Stats { return s.fan.Stats() }

// Publish sends a room's event to its readers. It is the chat.Hub's publish
// function: it is called in each room's order, outside the room's lock, and
// does not wait on readers.
//
// The event is rendered and framed once per format, and only in the formats
// some reader of the room uses now. A reader that connects just after the
// check gets the event from the backlog, or, reading live only, was not yet
// there for it.
func (s *Streams) Publish(d chat.Delivery) {
	for _, f := range formats {
		key := streamKey(d.Room, f)
		if !s.fan.Has(key) {
			continue
		}
		var name string
		var data []byte
		switch d.Event.Kind {
		case chat.KindMembers:
			name, data = membersEvent, f.members(d.Room, d.Event.ID, d.Members, d.Seq)
		case chat.KindReset:
			name, data = resetEvent, f.reset(d.Event.ID)
		default:
			data = f.event(d.Room, d.Event, d.Event.Affects(), d.Members, d.Seq)
		}
		frame := fanout.NewFrame(d.Event.ID, name, data)
		// A room's new life concerns only readers who had a place in an
		// earlier one; the others just see its events from the start.
		frame.Placed = d.Event.Kind == chat.KindReset
		s.fan.Publish(key, frame)
	}
}

// resetEvent names the event that tells a reader its place in the room's
// history is gone; its id is the point the reader is now at.
const resetEvent = "reset"

// membersEvent names the event that carries a room's member list after a
// change of presence. Its id is the room's newest event's: it is not a
// history event, and does not move a reader's resume point.
const membersEvent = "members"

// Close ends every stream. Call it once, when the server shuts down:
// http.Server.Shutdown neither waits for nor closes the connections the
// streams took over.
func (s *Streams) Close() { s.fan.Close() }

// Wait waits, until ctx ends, for the streams that Close ended to finish
// writing what they had begun and close their connections.
func (s *Streams) Wait(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.fan.Readers() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// backlogChunk is how many bytes of a backlog go out in one write.
const backlogChunk = 32 << 10

// serve runs one reader of a room's stream (key: see streamKey) until the
// reader is gone, falls behind, or the server closes; release is called
// then, or at once if the stream does not start. backlog reads what the
// reader missed, after it is subscribed (so nothing published meanwhile is
// lost), and returns a function that writes it through add, with the id of
// the newest event it holds (0 if none); its error is the request's.
//
// Once an HTTP/1.x connection is taken over, the stream goes on in a
// goroutine of its own and the handler returns: net/http's goroutine for the
// connection ends, and with it the memory it holds (its buffers, the request
// and the handlers' stack), which is most of an idle stream's cost. The
// access log then has the stream's start; its end is logged at debug level,
// on the request's logger (with its id), which the goroutine keeps: c is
// reused for other requests once the handler returns.
func (s *Streams) serve(c echo.Context, key string, backlog func() (func(add func([]byte) error) error, uint64, error), release func()) error {
	log := requestLog(c, s.log)
	conn := &streamConn{}
	rd, err := s.fan.Subscribe(key, conn)
	if err != nil {
		release()
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the server is shutting down")
	}
	write, last, err := backlog()
	if err != nil {
		rd.Close()
		release()
		return err
	}

	// http.Server.ReadTimeout would otherwise end the stream once its
	// deadline passes (a taken-over connection has its deadlines cleared).
	_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Time{})
	conn.open(c, func() { rd.Cut(fanout.ErrGone) })
	run := func(ctx context.Context) {
		start := time.Now()
		defer release()
		defer conn.close()
		defer rd.Close()
		err := s.stream(ctx, rd, write, last)
		log.Debug("stream ended", "cause", err, "duration_ms", time.Since(start).Milliseconds())
	}
	if conn.conn != nil {
		// net/http's request context no longer ends with the client's
		// connection; the stream's reading goroutine cuts the reader.
		go run(context.Background())
		return nil
	}
	run(c.Request().Context())
	return nil
}

// stream writes a reader's backlog, then its live events until it ends,
// and returns why it ended.
func (s *Streams) stream(ctx context.Context, rd *fanout.Reader, write func(add func([]byte) error) error, last uint64) error {
	// A backlog's lag runs from when each chunk is made: a reader on a slow
	// link may take long over a long backlog, as long as it keeps reading.
	// A backlog stops after the chunk under way once the reader has ended
	// (the server closing, or the client gone): a long one to a slow reader
	// could otherwise outlast the shutdown by minutes. Each chunk is whole
	// events, and the first carries the response head.
	var pending []byte
	add := func(b []byte) error {
		pending = append(pending, b...)
		if len(pending) < backlogChunk {
			return nil
		}
		err := rd.Send([][]byte{pending}, time.Now())
		pending = pending[:0]
		if err == nil {
			err = rd.Err()
		}
		return err
	}
	if err := write(add); err != nil {
		return endedBy(rd, err)
	}
	// Also puts the response head on the wire when there was no backlog.
	if err := rd.Send([][]byte{pending}, time.Now()); err != nil {
		return endedBy(rd, err)
	}
	pending = nil
	return rd.Serve(ctx, last)
}

// endedBy is why a stream whose write failed with err ended: the reader's
// cause if it had ended (cut off: the failed write is the abort's doing),
// else err.
func endedBy(rd *fanout.Reader, err error) error {
	if cause := rd.Err(); cause != nil {
		return cause
	}
	return err
}
