package handlers

import (
	"bytes"
	"strconv"
	"sync"

	"github.com/r3labs/sse/v2"

	"github.com/cloakroom/cloakroom/chat"
)

// Streams carries each room's events to its readers over Server-Sent Events,
// with one r3labs/sse stream per room. History and replay are chat's: the
// r3labs server keeps nothing, and what a reader missed is sent from the
// room's sealed history when it connects (see streamWriter).
type Streams struct {
	sse *sse.Server

	// mu is read-held by each reader from before its stream is made until
	// r3labs has registered it, and write-held by Close. A stream made or
	// joined after Close would never end (r3labs's registration would wait
	// forever on a stream that is gone), and Shutdown would wait for it.
	mu     sync.RWMutex
	closed bool
}

// NewStreams returns a Streams with no rooms.
func NewStreams() *Streams {
	s := sse.New()
	// AutoReplay would keep every event in plaintext forever, renumbered.
	s.AutoReplay = false
	// AutoStream would let any ?stream= value create a stream.
	s.AutoStream = false
	// One data: line per line of HTML, so a newline in a message cannot
	// start an id: or event: field.
	s.SplitData = true
	s.Headers = map[string]string{"X-Accel-Buffering": "no"}
	return &Streams{sse: s}
}

// Publish sends a room's event to its readers. It is the chat.Hub's publish
// function: it is called in each room's order, with the room locked, and
// does not block (the r3labs stream goroutine drains its queue into
// per-reader writers that never wait on the network).
//
// The event is rendered once per format, and only in the formats some
// reader of the room uses: a format's stream exists from its first reader's
// connection until the room is dropped (r3labs's Publish to a stream that
// does not exist would drop the event anyway). A reader that connects just
// after the check gets the event from the backlog, or, reading live only,
// was not yet there for it.
func (s *Streams) Publish(d chat.Delivery) {
	id := []byte(strconv.FormatUint(d.Event.ID, 10))
	for _, f := range formats {
		key := streamKey(d.Room, f)
		if !s.sse.StreamExists(key) {
			continue
		}
		ev := &sse.Event{ID: id}
		if d.Event.Kind == chat.KindMembers {
			ev.Event = []byte(membersEvent)
			ev.Data = f.members(d.Room, d.Event.ID, d.Members, d.Seq)
		} else {
			ev.Data = f.event(d.Room, d.Event, d.Event.Affects(), d.Members, d.Seq)
		}
		s.sse.Publish(key, ev)
	}
}

// membersEvent names the event that carries a room's member list after a
// change of presence. Its id is the room's newest event's: it is not a
// history event, and does not move a reader's resume point.
const membersEvent = "members"

// Dropped forgets the stream of a room the hub dropped. The hub drops only
// rooms with no readers, which is when r3labs can remove a stream without
// stranding a goroutine.
func (s *Streams) Dropped(room string) {
	for _, f := range formats {
		s.sse.RemoveStream(streamKey(room, f))
	}
}

// Close ends every stream. Call it once, when the server shuts down, so that
// http.Server.Shutdown does not wait for them forever.
func (s *Streams) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.sse.Close()
}

// open makes sure a stream exists (a room's, in a format: see streamKey)
// for a reader about to register on it. registered must be called once the
// reader is registered (or will not be); until then Close waits. ok is false
// once Close has been called.
func (s *Streams) open(key string) (registered func(), ok bool) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, false
	}
	s.sse.CreateStream(key) // exists already unless this is the first reader of the room in this format
	return sync.OnceFunc(s.mu.RUnlock), true
}

// writeEvent writes one event in the SSE wire format, as r3labs does for
// published events: an id, one data line per line of data, and a name for
// named events.
func writeEvent(buf *bytes.Buffer, id uint64, name string, data []byte) {
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

// frameID reads the id of a frame r3labs wrote ("id: N\n..."), and whether
// it is a named event (a member list, which repeats the id of the event
// before it); comments have no id.
func frameID(frame []byte) (id uint64, named bool, ok bool) {
	rest, ok := bytes.CutPrefix(frame, []byte("id: "))
	if !ok {
		return 0, false, false
	}
	end := bytes.IndexByte(rest, '\n')
	if end < 0 {
		return 0, false, false
	}
	id, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	return id, bytes.Contains(frame, []byte("\nevent: ")), err == nil
}
