package fanout

import (
	"bytes"
	"strconv"
	"time"
)

// A Frame is one Server-Sent Events event as it goes on the wire, made once
// and shared by every reader it is sent to. Nothing may change it after
// Publish.
type Frame struct {
	// ID is the event's id field; 0 for a frame without one (a comment).
	ID uint64
	// Named marks a named event that repeats the id of the event before it
	// (the room's member list): it must not move a reader's resume point,
	// and one older than what a reader was sent is dropped.
	Named bool
	// Placed marks a frame only for readers that have a place in the
	// stream to lose: those sent an event before, or that resumed from an
	// id (a reset, when a room begins a new life). Others skip it.
	Placed bool
	// Data is the whole frame, ending in the blank line that dispatches it.
	Data []byte
	// At is when the frame was published; a reader's lag is the age of the
	// oldest frame it has not yet handed to the network (see Reader).
	At time.Time
}

// NewFrame frames an event: an id field, one data field per line of data
// (so no line of data can start an id or event field of its own), and an
// event field when name is not empty. At is now. The format is the
// WHATWG HTML Standard's, section 9.2 "Server-sent events".
func NewFrame(id uint64, name string, data []byte) *Frame {
	var buf bytes.Buffer
	buf.Grow(len(data) + 32)
	AppendEvent(&buf, id, name, data)
	return &Frame{ID: id, Named: name != "", Data: buf.Bytes(), At: time.Now()}
}

// AppendEvent writes one event in the wire format NewFrame uses, for
// frames written straight to one reader (a backlog).
func AppendEvent(buf *bytes.Buffer, id uint64, name string, data []byte) {
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatUint(id, 10))
	buf.WriteByte('\n')
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		buf.WriteString("data: ")
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if name != "" {
		buf.WriteString("event: ")
		buf.WriteString(name)
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
}

// Heartbeat is the comment an idle stream is sent, so that proxies and
// clients can tell a quiet room from a dead connection.
var Heartbeat = []byte(": keepalive\n\n")
