package crypto

import (
	"bytes"
	"fmt"
	"testing"
)

// The tests in this file forge or misuse records and check that Open
// refuses each one with ErrOpen.

// mustNotOpen fails the test unless Open refuses record with exactly ErrOpen.
func mustNotOpen(t *testing.T, b *Box, room string, record, ad []byte, why string) {
	t.Helper()
	pt, err := b.Open(room, record, ad)
	if err != ErrOpen || pt != nil {
		t.Errorf("%s: Open = %q, %v; want ErrOpen", why, pt, err)
	}
}

func TestOpenRejectsBitFlips(t *testing.T) {
	b := newTestBox(t)
	ad := []byte("ad")
	record := seal(t, b, "r", []byte("a message of some forty bytes, or so..."), ad)
	for i := range record {
		for bit := 0; bit < 8; bit++ {
			forged := bytes.Clone(record)
			forged[i] ^= 1 << bit
			mustNotOpen(t, b, "r", forged, ad, fmt.Sprintf("byte %d bit %d", i, bit))
		}
	}
	// The original still opens: the failures above were the flips.
	if _, err := b.Open("r", record, ad); err != nil {
		t.Errorf("unmodified record: %v", err)
	}
}

func TestOpenRejectsTruncationAndExtension(t *testing.T) {
	b := newTestBox(t)
	record := seal(t, b, "r", []byte("twenty-one bytes long"), nil)
	for n := 0; n < len(record); n++ {
		mustNotOpen(t, b, "r", record[:n], nil, fmt.Sprintf("first %d bytes", n))
		mustNotOpen(t, b, "r", record[len(record)-n:], nil, fmt.Sprintf("last %d bytes", n))
	}
	mustNotOpen(t, b, "r", append(bytes.Clone(record), 0), nil, "one byte appended")
	mustNotOpen(t, b, "r", append(bytes.Clone(record), make([]byte, 16)...), nil, "one block appended")
}

func TestOpenRejectsWrongAD(t *testing.T) {
	b := newTestBox(t)
	tests := []struct {
		name       string
		sealAD     string
		openAD     string
		shouldOpen bool
	}{
		{"same", "room=1 seq=5", "room=1 seq=5", true},
		{"other sequence number", "room=1 seq=5", "room=1 seq=6", false},
		{"swapped", "seq=5", "seq=6", false},
		{"prefix", "room=1 seq=5", "room=1 seq=", false},
		{"extended", "room=1 seq=5", "room=1 seq=55", false},
		{"empty versus some", "", "x", false},
		{"some versus empty", "x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			record := seal(t, b, "r", []byte("hi"), []byte(tt.sealAD))
			pt, err := b.Open("r", record, []byte(tt.openAD))
			if tt.shouldOpen {
				if err != nil || string(pt) != "hi" {
					t.Errorf("Open = %q, %v", pt, err)
				}
				return
			}
			if err != ErrOpen || pt != nil {
				t.Errorf("Open = %q, %v; want ErrOpen", pt, err)
			}
		})
	}
}

// TestOpenADLengthIsBound moves the last block of the associated data into
// the record, in front of the IV. The MAC input bytes ad ‖ IV ‖ ciphertext
// stay the same, and so would the tag if len(ad) were not part of the MAC
// input; the moved block even decrypts to valid padding, so only the length
// binding can reject it.
func TestOpenADLengthIsBound(t *testing.T) {
	b := newTestBox(t)
	ad := bytes.Repeat([]byte("0123456789abcdef"), 2)
	record := seal(t, b, "r", []byte("hi"), ad)
	moved := append(bytes.Clone(record[:1+keyIDSize]), ad[16:]...)
	moved = append(moved, record[1+keyIDSize:]...)
	mustNotOpen(t, b, "r", moved, ad[:16], "block moved from ad into record")
}

func TestOpenRejectsOtherRoom(t *testing.T) {
	b := newTestBox(t)
	record := seal(t, b, "A", []byte("secret"), []byte("ad"))
	for _, room := range []string{"B", "a", "A ", "", "AA"} {
		mustNotOpen(t, b, room, record, []byte("ad"), "room "+room)
	}
	other := newTestBox(t)
	mustNotOpen(t, other, "A", record, []byte("ad"), "other master key")
}

// TestOpenRejectsValidlyTagged builds records that carry a correct tag, made
// with the room's own keys, but are wrong in one other way each. Only
// the checks of version, key id, length and padding in Open can reject them,
// so each of those checks is tested on its own.
func TestOpenRejectsValidlyTagged(t *testing.T) {
	b := newTestBox(t)
	k, err := b.keys[0].room("r")
	if err != nil {
		t.Fatal(err)
	}
	id := b.keys[0].id
	otherID := id
	otherID[keyIDSize-1] ^= 1
	iv := bytes.Repeat([]byte{7}, blockSize)
	// build returns version ‖ key id ‖ iv ‖ raw CBC encryption of plain ‖
	// valid tag; plain is not padded by build, so it can carry any padding.
	build := func(v byte, id [keyIDSize]byte, plain []byte) []byte {
		body := append([]byte{v}, id[:]...)
		body = append(body, iv...)
		ct := make([]byte, len(plain)-len(plain)%blockSize)
		encryptBlocks(k.block, iv, ct, plain[:len(ct)])
		body = append(body, ct...)
		body = append(body, plain[len(ct):]...) // a partial block, if any
		return k.tag(body, body, nil)
	}
	good := []byte("hi\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e")
	tests := []struct {
		name   string
		record []byte
		opens  bool
	}{
		{"control: well formed", build(2, id, good), true},
		{"version 0", build(0, id, good), false},
		{"version 1", build(1, id, good), false},
		{"version 3", build(3, id, good), false},
		{"version 255", build(255, id, good), false},
		{"key id of no known key", build(2, otherID, good), false},
		{"key id all zero", build(2, [keyIDSize]byte{}, good), false},
		{"no ciphertext", build(2, id, nil), false},
		{"one byte more", build(2, id, append(bytes.Clone(good), 'x')), false},
		{"one byte less", build(2, id, good[:len(good)-1]), false},
		{"padding byte 0", build(2, id, append([]byte("fifteen bytes.."), 0)), false},
		{"padding byte 17", build(2, id, bytes.Repeat([]byte{17}, 16)), false},
		{"padding 2 with a 1", build(2, id, append([]byte("fourteen bytes"), 1, 2)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := b.Open("r", tt.record, nil)
			if tt.opens {
				if err != nil || string(pt) != "hi" {
					t.Errorf("Open = %q, %v; want \"hi\"", pt, err)
				}
				return
			}
			if err != ErrOpen || pt != nil {
				t.Errorf("Open = %q, %v; want ErrOpen", pt, err)
			}
		})
	}
}
