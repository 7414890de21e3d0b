package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
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
// and then every Publish. Here the loop never waits: a reader more than
// maxQueued bytes behind, or slower than the write timeout to take bytes, is
// cut off, and resumes with Last-Event-ID when it reconnects. A burst is
// written in one go, so a busy room costs a write per burst, not per event.
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

	frame   bytes.Buffer  // the frame being written; the handler goroutine's alone
	started chan struct{} // closed by the first Flush
	onStart func()        // called at the first Flush, when r3labs has registered the reader

	mu     sync.Mutex
	queue  [][]byte // frames not yet written
	queued int      // their bytes
	broken bool     // a frame was refused: nothing after it may be sent
	ready  chan struct{}

	done chan struct{}
}

const (
	maxQueued     = 1 << 20 // bytes a reader may fall behind by
	maxFrame      = 1 << 20 // far above any event; a guard, not a limit in use
	backlogChunk  = 32 << 10
	heartbeatText = ": keepalive\n\n"
)

var errFrameTooLarge = errors.New("handlers: event frame too large")

func newStreamWriter(res http.ResponseWriter, rc *http.ResponseController, cancel context.CancelFunc, cfg Config) *streamWriter {
	return &streamWriter{
		res: res, rc: rc, cancel: cancel,
		timeout: cfg.StreamWriteTimeout, heartbeat: cfg.Heartbeat, log: cfg.Logger,
		started: make(chan struct{}),
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

func (w *streamWriter) Header() http.Header { return w.res.Header() }

func (w *streamWriter) WriteHeader(code int) { w.res.WriteHeader(code) }

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.frame.Len()+len(p) > maxFrame {
		w.frame.Reset()
		w.breakOff()
		return 0, errFrameTooLarge
	}
	return w.frame.Write(p)
}

// Flush ends a frame. The first Flush is r3labs's, after it has registered
// the reader and set the status: it is what starts the backlog.
func (w *streamWriter) Flush() {
	select {
	case <-w.started:
	default:
		close(w.started)
		if w.onStart != nil {
			w.onStart()
		}
		return
	}
	f := bytes.Clone(w.frame.Bytes())
	w.frame.Reset()
	if len(f) == 0 {
		return // what was written was refused by Write
	}
	w.mu.Lock()
	ok := !w.broken && w.queued+len(f) <= maxQueued
	if ok {
		w.queue = append(w.queue, f)
		w.queued += len(f)
	}
	w.mu.Unlock()
	if !ok {
		w.breakOff()
		return
	}
	select {
	case w.ready <- struct{}{}:
	default: // the writer has been told already
	}
}

// breakOff gives up on the reader: once a frame has been refused, no later
// frame may reach it, or it would skip an event and resume after it. r3labs
// keeps writing until it has let go of the reader; those frames are dropped.
func (w *streamWriter) breakOff() {
	w.mu.Lock()
	w.broken = true
	w.queue, w.queued = nil, 0
	w.mu.Unlock()
	w.cancel()
}

// take returns the queued frames and empties the queue.
func (w *streamWriter) take() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue, w.queued = nil, 0
	return q
}

// run does the writing. backlog writes what the reader missed through send
// and returns the id of the last event it sent (0 if none).
func (w *streamWriter) run(ctx context.Context, backlog func(send func([]byte) error) (uint64, error)) {
	defer close(w.done)
	select {
	case <-ctx.Done():
		return
	case <-w.started:
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
		pending.Reset()
		select {
		case <-ctx.Done():
			return
		case <-w.ready:
			// ctx may have ended at the same moment; select picks either.
			if ctx.Err() != nil {
				return
			}
			for _, f := range w.take() {
				id, named, ok := frameID(f)
				switch {
				case !ok: // a comment
				case named:
					// A member list repeats the id of the event before it;
					// one older than what was sent would move the reader's
					// resume point back.
					if id < last {
						continue
					}
				case id <= last:
					continue
				default:
					last = id
				}
				pending.Write(f)
			}
		case <-tick.C:
			pending.WriteString(heartbeatText)
		}
		if pending.Len() == 0 {
			continue
		}
		if err := w.send(pending.Bytes()); err != nil {
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
