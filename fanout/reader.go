package fanout

import (
	"context"
	"sync"
	"time"
)

// A Conn is where a reader's bytes go: one client's connection.
type Conn interface {
	// WriteBuffers writes bufs in order, in one write where the connection
	// allows it (writev), and returns the bytes written. It may change the
	// slices in bufs, never the bytes they point at.
	WriteBuffers(bufs [][]byte) (int64, error)
	// Abort ends the connection and a WriteBuffers blocked on it, at once.
	// It is called from another goroutine than WriteBuffers.
	Abort()
	// Unacked returns how many of the bytes written the peer has not yet
	// acknowledged (they sit in this host's send queue); ok is false where
	// the connection cannot tell, and lag is then measured up to the write.
	Unacked() (n int64, ok bool)
}

// A Reader is one subscriber of a topic. Its methods, except Cut and Done,
// are for the one goroutine that serves it.
type Reader struct {
	hub   *Hub
	topic *topic
	conn  Conn
	wake  chan struct{} // a frame was published; capacity 1
	done  chan struct{} // closed by Cut
	once  sync.Once
	cause error
	// cutMu makes Cut's end and abort one step against Close: a reader
	// whose Serve returns because Cut ended it must not be closed (and
	// its connection handed back) before Cut has aborted it.
	cutMu    sync.Mutex
	aborted  bool // conn was aborted
	released bool // Close was called: conn is its owner's again

	next uint64 // sequence number of the next frame to take; guarded by topic.mu

	// What the watchdog measures, guarded by mu.
	mu      sync.Mutex
	serving time.Time // when Serve began; zero while the owner sends a backlog
	writing time.Time // At of the oldest frame in a write under way, or zero
	sent    int64     // bytes written so far
	marks   []mark    // writes the peer may not have acknowledged, oldest first

	taken []*Frame // frames taken from the ring, reused between bursts
	bufs  [][]byte // their bytes for one write, reused between bursts
}

// mark records that a write ended at byte end of the stream and that its
// oldest frame was published at at.
type mark struct {
	end int64
	at  time.Time
}

// maxMarks bounds a reader's marks; past it, the two newest are merged
// (keeping the older time, so lag is never under-measured).
const maxMarks = 64

// Done is closed when the reader has been cut off or closed.
func (r *Reader) Done() <-chan struct{} { return r.done }

// Err returns why the reader ended (ErrClosed, ErrBehind, ErrGone or what
// Cut was given), or nil while it runs.
func (r *Reader) Err() error {
	select {
	case <-r.done:
		return r.cause
	default:
		return nil
	}
}

// Cut ends the reader with cause and aborts its connection. The first call
// of Cut, Close or the Hub's Close sets the cause; Cut aborts the connection
// even after the Hub's Close (which ends readers without aborting, so the
// watchdog can still cut one stuck in a write), never after Close. Safe from
// any goroutine.
func (r *Reader) Cut(cause error) { r.cut(cause) }

// cut is Cut, reporting whether this call ended the reader.
func (r *Reader) cut(cause error) bool {
	r.cutMu.Lock()
	defer r.cutMu.Unlock()
	ended := r.end(cause)
	if !r.released && !r.aborted {
		r.aborted = true
		r.conn.Abort()
	}
	return ended
}

// cutBehind cuts the reader off with ErrBehind and counts it, once, under
// its cause: overrun (the ring dropped a frame it had not taken) or lag.
func (r *Reader) cutBehind(overrun bool) {
	if !r.cut(ErrBehind) {
		return // ended already, for another reason or by another check
	}
	if overrun {
		r.hub.cutRing.Add(1)
	} else {
		r.hub.cutLag.Add(1)
	}
}

// end ends the reader with cause, reporting whether this call did.
func (r *Reader) end(cause error) bool {
	ended := false
	r.once.Do(func() {
		r.cause = cause
		close(r.done)
		ended = true
	})
	return ended
}

// Close removes the reader from its topic. Call it once, when done serving;
// it does not touch the connection.
func (r *Reader) Close() {
	r.cutMu.Lock()
	r.end(ErrGone)
	r.released = true // the connection is its owner's again
	r.cutMu.Unlock()
	r.hub.leave(r)
}

// Send writes bufs (for example the events a reader missed, read from a
// room's history) with the lag clock started at since: a reader stuck on
// it is cut off as for a live frame published then.
func (r *Reader) Send(bufs [][]byte, since time.Time) error {
	r.mu.Lock()
	r.writing = since
	r.mu.Unlock()
	n, err := r.conn.WriteBuffers(bufs)
	r.hub.bytes.Add(uint64(n))
	r.mu.Lock()
	r.writing = time.Time{}
	r.sent += n
	if err == nil {
		if len(r.marks) == maxMarks {
			r.marks[maxMarks-2].end = r.marks[maxMarks-1].end
			r.marks = r.marks[:maxMarks-1]
		}
		r.marks = append(r.marks, mark{end: r.sent, at: since})
	}
	r.mu.Unlock()
	return err
}

// Serve sends the reader its live frames until ctx ends or the reader is
// cut off, and a Heartbeat after every quiet spell. last is the id of the
// newest event the reader was already sent (from a backlog), or the id it
// resumed from: frames up to it are skipped, and a named frame older than
// it too; 0 means it has no place yet, and Placed frames are skipped until
// it has. Frames published before Serve began count as lag from then, not
// from their publication: the reader was busy with its backlog, whose
// Sends measured it. The error says why it stopped.
func (r *Reader) Serve(ctx context.Context, last uint64) error {
	serving := time.Now()
	r.mu.Lock()
	r.serving = serving
	r.mu.Unlock()
	beat := time.NewTimer(r.hub.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.done:
			return r.cause
		case <-beat.C:
			if err := r.Send([][]byte{Heartbeat}, time.Now()); err != nil {
				return r.failed(err)
			}
		case <-r.wake:
			frames, err := r.take()
			if err != nil {
				r.cutBehind(true)
				return err
			}
			bufs := r.bufs[:0]
			placed := 0
			for _, f := range frames {
				switch {
				case f.ID == 0: // a comment
				case f.Placed && last == 0:
					continue
				case f.Named:
					if f.ID < last {
						continue
					}
				case f.ID <= last:
					continue
				default:
					last = f.ID
				}
				if f.Placed {
					placed++
				}
				bufs = append(bufs, f.Data)
			}
			if len(bufs) > 0 {
				err = r.Send(bufs, latest(frames[0].At, serving))
				if err == nil {
					r.written(len(bufs), placed)
				}
			}
			r.release(frames, bufs)
			if err != nil {
				return r.failed(err)
			}
			if len(bufs) == 0 {
				// All were sent before (or are not for this reader):
				// nothing is being written, whatever take marked.
				r.mu.Lock()
				r.writing = time.Time{}
				r.mu.Unlock()
				continue
			}
		}
		beat.Reset(r.hub.cfg.Heartbeat)
	}
}

// written counts a write of n live frames, placed of them Placed.
func (r *Reader) written(n, placed int) {
	h := r.hub
	h.delivered.Add(uint64(n))
	if placed > 0 {
		h.placed.Add(uint64(placed))
	}
	if h.cfg.OnWrite != nil {
		h.cfg.OnWrite(n)
	}
}

// failed ends the reader after a write error, which is its cause unless
// it had ended already (an aborted write fails too).
func (r *Reader) failed(err error) error {
	r.Cut(err)
	return r.cause
}

// take returns the frames published since the last take, and marks the
// oldest as being written, both under the topic's lock so the watchdog never
// sees them in neither place. ErrBehind if the ring dropped one first.
func (r *Reader) take() ([]*Frame, error) {
	t := r.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.next < t.tail {
		return nil, ErrBehind
	}
	frames := append(r.taken[:0], t.frames[r.next-t.tail:]...)
	r.next = t.head
	if len(frames) > 0 {
		r.mu.Lock()
		r.writing = latest(frames[0].At, r.serving)
		r.mu.Unlock()
	}
	return frames, nil
}

// release lets go of a burst's frames, so the ring alone decides how long
// they live, and gives back the memory of an unusually long burst.
func (r *Reader) release(frames []*Frame, bufs [][]byte) {
	const keep = 64
	clear(frames)
	clear(bufs)
	if cap(frames) > keep {
		frames, bufs = nil, nil
	}
	r.taken, r.bufs = frames[:0], bufs[:0]
}

// oldestUnsent returns the time of the oldest event the reader has not
// handed over: ring is that of the oldest frame it has not taken (zero if
// none); a write under way and written bytes the peer has not acknowledged
// count too. Zero when it is all caught up.
//
// The ring's frames count from when Serve began at the earliest: before,
// the reader is sending its backlog, whose own writes measure whether it
// keeps up, and is not yet behind on what was published meanwhile (the
// ring's bounds still cut it off if the backlog takes too long).
func (r *Reader) oldestUnsent(ring time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var oldest time.Time
	older := func(t time.Time) {
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	if !ring.IsZero() && !r.serving.IsZero() {
		older(latest(ring, r.serving))
	}
	older(r.writing)
	if len(r.marks) == 0 {
		return oldest
	}
	unacked, ok := r.conn.Unacked()
	if !ok {
		r.marks = r.marks[:0]
		return oldest
	}
	acked := r.sent - unacked
	i := 0
	for i < len(r.marks) && r.marks[i].end <= acked {
		i++
	}
	r.marks = append(r.marks[:0], r.marks[i:]...)
	if len(r.marks) > 0 {
		older(r.marks[0].at)
	}
	return oldest
}

// latest returns the later of a and b.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
