package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// streamWriter sits between r3labs's handler loop and the connection of one
// reader. r3labs writes each event as a few small writes and a Flush; the
// writer gathers them into a frame and queues it for a goroutine of its own,
// which does every network write with a fresh deadline.
//
// This is what keeps one stalled reader from stalling its room. r3labs hands
// events to each reader through a blocking send into a 64-slot channel, so a
// handler loop stuck on the network would block the room's stream goroutine
// and then every Publish. Here the loop never waits: a reader a whole queue
// behind, or slower than the write timeout to take bytes, is cut off and
// resumes with Last-Event-ID when it reconnects.
//
// The goroutine also sends what the reader missed before live events, and
// drops live frames it already sent (a frame published between the reader's
// registration and the backlog's read arrives both ways).
type streamWriter struct {
	res       http.ResponseWriter      // for headers, status and body writes
	rc        *http.ResponseController // for deadlines and flushes that report errors
	cancel    context.CancelFunc       // ends the request, which makes r3labs let go
	timeout   time.Duration
	heartbeat time.Duration
	log       *slog.Logger

	frame   bytes.Buffer // the frame being written; the handler goroutine's alone
	started bool         // the handler goroutine's alone
	queue   chan []byte
	done    chan struct{}
}

const (
	streamQueue   = 64      // frames a reader may fall behind by
	maxFrame      = 1 << 20 // far above any event; a guard, not a limit in use
	backlogChunk  = 32 << 10
	heartbeatText = ": keepalive\n\n"
)

var errFrameTooLarge = errors.New("handlers: event frame too large")

func newStreamWriter(res http.ResponseWriter, rc *http.ResponseController, cancel context.CancelFunc, cfg Config) *streamWriter {
	return &streamWriter{
		res: res, rc: rc, cancel: cancel,
		timeout: cfg.StreamWriteTimeout, heartbeat: cfg.Heartbeat, log: cfg.Logger,
		queue: make(chan []byte, streamQueue),
		done:  make(chan struct{}),
	}
}

func (w *streamWriter) Header() http.Header { return w.res.Header() }

func (w *streamWriter) WriteHeader(code int) { w.res.WriteHeader(code) }

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.frame.Len()+len(p) > maxFrame {
		w.cancel()
		return 0, errFrameTooLarge
	}
	return w.frame.Write(p)
}

// Flush ends a frame. The first Flush is r3labs's, after it has registered
// the reader and set the status: it is what starts the backlog.
func (w *streamWriter) Flush() {
	var f []byte
	if w.started {
		f = bytes.Clone(w.frame.Bytes())
		w.frame.Reset()
	}
	w.started = true
	select {
	case w.queue <- f:
	default:
		w.cancel()
	}
}

// run does the writing. backlog writes what the reader missed through send
// and returns the id of the last event it sent (0 if none).
func (w *streamWriter) run(ctx context.Context, backlog func(send func([]byte) error) (uint64, error)) {
	defer close(w.done)
	select {
	case <-ctx.Done():
		return
	case <-w.queue: // the first flush: headers only
	}

	var pending bytes.Buffer
	send := func(b []byte) error {
		pending.Write(b)
		if pending.Len() < backlogChunk {
			return nil
		}
		err := w.send(pending.Bytes())
		pending.Reset()
		return err
	}
	last, err := backlog(send)
	if err == nil {
		err = w.send(pending.Bytes()) // also puts the headers on the wire
	}
	if err != nil {
		w.stop(err)
		return
	}

	tick := time.NewTicker(w.heartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case f := <-w.queue:
			if id, ok := frameID(f); ok {
				if id <= last {
					continue
				}
				last = id
			}
			err = w.send(f)
		case <-tick.C:
			err = w.send([]byte(heartbeatText))
		}
		if err != nil {
			w.stop(err)
			return
		}
		tick.Reset(w.heartbeat)
	}
}

// send writes b and flushes it, within the write timeout.
func (w *streamWriter) send(b []byte) error {
	if err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return err
	}
	if len(b) > 0 {
		if _, err := w.res.Write(b); err != nil {
			return err
		}
	}
	return w.rc.Flush()
}

func (w *streamWriter) stop(err error) {
	w.log.Debug("stream closed", "err", err)
	w.cancel()
}
