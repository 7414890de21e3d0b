package natslog

import (
	"encoding/binary"
	"errors"

	"github.com/cloakroom/cloakroom/chat"
)

// envelopeVersion is the first byte of every stored record, so that a
// later layout can be told apart from this one.
const envelopeVersion = 1

// errEnvelope reports a stored message that is not a record of this
// package: another writer on the subject, or a later layout.
var errEnvelope = errors.New("natslog: a stored message is not a record envelope")

// encode returns what NATS stores for rec: a small binary envelope, no
// headers, so that a record is one message body and its id, member and
// client id travel with the sealed bytes whichever way it is read (direct
// get or consumer):
//
//	byte     version (1)
//	uvarint  ID
//	uvarint  Member
//	uvarint  length of CID, then the CID's bytes (as the caller gave it)
//	rest     Sealed
//
// All of it is in the clear for NATS: the sealed bytes are opaque, but the
// id, the member number, the client id and the sizes are not. The client id
// is kept as given rather than hashed because Read and Watch must give it
// back (chat.Record.CID) and a Log holds no key to seal it with; it is the
// Hub's member-scoped id ("7:…"), chosen by the client (a random id in the
// browser).
func encode(rec chat.Record) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(rec.CID)+len(rec.Sealed))
	b = append(b, envelopeVersion)
	b = binary.AppendUvarint(b, rec.ID)
	b = binary.AppendUvarint(b, rec.Member)
	b = binary.AppendUvarint(b, uint64(len(rec.CID)))
	b = append(b, rec.CID...)
	return append(b, rec.Sealed...)
}

// decode is the inverse of encode. The record's Sealed is a copy, so the
// record stays valid whatever the NATS client does with b later. A body
// that does not parse is errEnvelope.
func decode(b []byte) (chat.Record, error) {
	if len(b) == 0 || b[0] != envelopeVersion {
		return chat.Record{}, errEnvelope
	}
	b = b[1:]
	var rec chat.Record
	var fields [3]uint64
	for i := range fields {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return chat.Record{}, errEnvelope
		}
		fields[i], b = v, b[n:]
	}
	rec.ID, rec.Member = fields[0], fields[1]
	if fields[2] > uint64(len(b)) {
		return chat.Record{}, errEnvelope
	}
	rec.CID = string(b[:fields[2]])
	rec.Sealed = append([]byte{}, b[fields[2]:]...)
	return rec, nil
}
