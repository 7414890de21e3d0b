package client

import (
	"fmt"
	"io"
	"net/http"
	"slices"
)

// wholeEventsTransport gives a stream's body (a 200) to its reader as whole
// events only; see wholeEvents.
type wholeEventsTransport struct{ next http.RoundTripper }

func (t wholeEventsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusOK {
		resp.Body = &wholeEvents{body: resp.Body}
	}
	return resp, err
}

// wholeEvents passes on an event stream's bytes one whole event at a time:
// an event's bytes come out once the blank line that ends it has been read.
// A stream can end at any byte (a reader that fell behind is reset, which
// drops what its host had not yet taken; a server that exits stops in the
// middle of a write), and r3labs/sse's reader hands on whatever came before
// the end as one more event: a message cut short would be printed, and its
// id, or the first digits of it, taken as the resume point, so the rest of
// that message never came or the whole history came again. Here the partial
// event is dropped, as the HTML Standard's parser does (9.2.6), and the
// stream resumes before it.
type wholeEvents struct {
	body    io.ReadCloser
	buf     []byte // read from body, not yet passed on
	whole   int    // buf[:whole] ends with an event's blank line
	scanned int    // buf[:scanned] has been scanned for line ends
	line    int    // bytes of the line being scanned, before its end
	cr      bool   // the last byte scanned was a CR, which a LF may follow
	err     error  // body's error, returned once no whole event is left
}

func (w *wholeEvents) Read(p []byte) (int, error) {
	for w.whole == 0 {
		if w.err != nil {
			return 0, w.err // with the start of an event that never ended
		}
		if len(w.buf) > maxEvent {
			return 0, fmt.Errorf("an event over %d bytes", maxEvent)
		}
		if len(w.buf) == cap(w.buf) {
			w.buf = slices.Grow(w.buf, max(4096, len(w.buf)))
		}
		n, err := w.body.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		w.err = err
		w.scan()
	}
	n := copy(p, w.buf[:w.whole])
	w.buf = w.buf[:copy(w.buf, w.buf[n:])]
	w.whole -= n
	w.scanned -= n
	return n, nil
}

// scan finds the events' ends in what was read since the last scan. Lines
// end in CRLF, LF or CR; an empty line ends an event.
func (w *wholeEvents) scan() {
	for i := w.scanned; i < len(w.buf); i++ {
		switch b := w.buf[i]; {
		case b == '\n' && w.cr:
			// The LF of a CRLF, whose CR ended the line: it belongs to
			// the event the line ended, if any.
			w.cr = false
			if w.whole == i {
				w.whole = i + 1
			}
		case b == '\n' || b == '\r':
			if w.line == 0 {
				w.whole = i + 1
			}
			w.line = 0
			w.cr = b == '\r'
		default:
			w.line++
			w.cr = false
		}
	}
	w.scanned = len(w.buf)
}

func (w *wholeEvents) Close() error { return w.body.Close() }
