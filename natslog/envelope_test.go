package natslog

import (
	"errors"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/google/go-cmp/cmp"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  chat.Record
	}{
		{"empty sealed, no client id", chat.Record{ID: 1, Member: 0, Sealed: []byte{}}},
		{"client id", chat.Record{ID: 1000, Member: 7, CID: "7:0f3c-aa", Sealed: []byte{0, 1, 2, 255}}},
		{"largest ids", chat.Record{ID: 1<<64 - 1, Member: 1<<64 - 1, CID: "x", Sealed: []byte("sealed")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode(encode(tc.rec))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.rec, got); diff != "" {
				t.Errorf("decode(encode(rec)) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvelopeRejects(t *testing.T) {
	good := encode(chat.Record{ID: 300, Member: 2, CID: "abc", Sealed: []byte("s")})
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"another version", append([]byte{2}, good[1:]...)},
		{"cut in the id", good[:2]},
		{"cut in the client id", good[:6]},
		{"client id longer than the body", []byte{1, 1, 1, 9, 'a'}},
		{"an id of eleven bytes", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec, err := decode(tc.body); !errors.Is(err, errEnvelope) {
				t.Errorf("decode = %+v, %v; want errEnvelope", rec, err)
			}
		})
	}
}

// FuzzDecode: whatever a subject holds, decode returns a record or
// errEnvelope, and a record it returns encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(encode(chat.Record{ID: 5, Member: 1, CID: "1:a", Sealed: []byte("sealed")}))
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decode(b)
		if err != nil {
			if !errors.Is(err, errEnvelope) {
				t.Fatalf("decode error %v is not errEnvelope", err)
			}
			return
		}
		// Varints have more than one encoding of a value only with
		// redundant continuation bytes, which AppendUvarint never writes.
		if again, err := decode(encode(rec)); err != nil || !cmp.Equal(again, rec) {
			t.Fatalf("re-encoding %+v decodes to %+v, %v", rec, again, err)
		}
	})
}
