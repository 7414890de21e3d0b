package chat

import (
	"encoding/binary"
	"errors"
	"time"
)

// Kind says what an event is.
type Kind uint8

// The kinds of event a room records.
const (
	KindMessage Kind = 1 // a member posted Text
	KindJoin    Kind = 2 // a member joined the room
	KindLeave   Kind = 3 // a member left, by choice or after being away too long
	// 4 was a change of presence, a history event no more.

	// KindMembers is never stored: a Delivery of it carries the member list
	// after a change of presence. Its ID is the room's newest event's, so a
	// reader's resume point does not move.
	KindMembers Kind = 5
	// KindReset is never stored either: a Delivery of it tells a room's
	// readers that the room begins a new life (it was made, or made again
	// after being dropped). Its ID is the one before the new life's first
	// event; readers who had a place in an earlier life have lost it.
	KindReset Kind = 6
)

// An Event is one entry of a room's history, as delivered to readers.
type Event struct {
	ID     uint64    // the room's sequence number; the next event has ID+1
	Kind   Kind      //
	Time   time.Time // the server's clock when the event happened
	Member uint64    // the member the event is by or about
	Name   string    // that member's name at the time
	Text   string    // the message, for KindMessage
}

// Affects reports whether the event changes the member list.
func (e Event) Affects() bool { return e.Kind == KindJoin || e.Kind == KindLeave }

// The sealed form of an event is its plaintext payload; what identifies the
// record (room, id, member) travels as associated data, so a record copied to
// another room, position or sender fails to open.
//
// payload: kind(1) | flags(1), zero | unix nanoseconds(8) | len(name)(2) | name | text
const payloadHeader = 1 + 1 + 8 + 2

var errBadPayload = errors.New("chat: malformed event payload")

func (e Event) payload() []byte {
	b := make([]byte, payloadHeader, payloadHeader+len(e.Name)+len(e.Text))
	b[0] = byte(e.Kind)
	binary.BigEndian.PutUint64(b[2:], uint64(e.Time.UnixNano()))
	binary.BigEndian.PutUint16(b[10:], uint16(len(e.Name)))
	b = append(b, e.Name...)
	return append(b, e.Text...)
}

func parsePayload(id, member uint64, b []byte) (Event, error) {
	if len(b) < payloadHeader {
		return Event{}, errBadPayload
	}
	n := int(binary.BigEndian.Uint16(b[10:]))
	if len(b) < payloadHeader+n {
		return Event{}, errBadPayload
	}
	return Event{
		ID:     id,
		Kind:   Kind(b[0]),
		Time:   time.Unix(0, int64(binary.BigEndian.Uint64(b[2:]))).UTC(),
		Member: member,
		Name:   string(b[payloadHeader : payloadHeader+n]),
		Text:   string(b[payloadHeader+n:]),
	}, nil
}

// associatedData binds a record to its room, id and sender.
func associatedData(room string, id, member uint64) []byte {
	ad := make([]byte, 0, 2+len(room)+16)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(room)))
	ad = append(ad, room...)
	ad = binary.BigEndian.AppendUint64(ad, id)
	return binary.BigEndian.AppendUint64(ad, member)
}
