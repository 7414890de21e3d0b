package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// The tests in this file cover a Box with several keys: the key id in the
// header, rotation from an old key to a new one, and the constructor's
// checks.

func TestNewBoxKeys(t *testing.T) {
	a, b, c := mustKey(t), mustKey(t), mustKey(t)
	tests := []struct {
		name    string
		current []byte
		old     [][]byte
		want    error // nil: NewBox succeeds
	}{
		{"one key", a, nil, nil},
		{"current and two old", a, [][]byte{b, c}, nil},
		{"old key equals current", a, [][]byte{b, bytes.Clone(a)}, ErrSameKey},
		{"two old keys equal", a, [][]byte{b, bytes.Clone(b)}, ErrSameKey},
		{"short current key", a[:31], [][]byte{b}, errMasterKeySize},
		{"short old key", a, [][]byte{b, c[:16]}, errMasterKeySize},
		{"long old key", a, [][]byte{append(bytes.Clone(b), 0)}, errMasterKeySize},
		{"empty old key", a, [][]byte{nil}, errMasterKeySize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box, err := NewBox(tt.current, tt.old...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewBox = %v, want %v", err, tt.want)
			}
			if (box != nil) != (tt.want == nil) {
				t.Fatalf("NewBox returned box %v with error %v", box, err)
			}
			if box != nil && len(box.keys) != 1+len(tt.old) {
				t.Errorf("box has %d keys, want %d", len(box.keys), 1+len(tt.old))
			}
		})
	}
}

// TestTwoBoxesOfOneKey: two Boxes made from the same key, as two processes
// given one key file would make them, open each other's records.
func TestTwoBoxesOfOneKey(t *testing.T) {
	key := mustKey(t)
	one, two := mustBox(t, key), mustBox(t, bytes.Clone(key))
	if one.KeyID() != two.KeyID() {
		t.Fatalf("key ids %s and %s differ", one.KeyID(), two.KeyID())
	}
	for _, pair := range []struct {
		name         string
		sealer, open *Box
	}{{"one to two", one, two}, {"two to one", two, one}} {
		t.Run(pair.name, func(t *testing.T) {
			record := seal(t, pair.sealer, "lobby", []byte("hello"), []byte("seq=1"))
			if pt, err := pair.open.Open("lobby", record, []byte("seq=1")); err != nil || string(pt) != "hello" {
				t.Errorf("Open = %q, %v", pt, err)
			}
		})
	}
}

// TestRotation walks a key rotation: records sealed under the old key still
// open in a Box that has the new key and the old one, which seals every new
// record under the new key only.
func TestRotation(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	before := mustBox(t, oldKey)               // the server before the rotation
	rotated := mustBox(t, newKey, oldKey)      // after: the new key and the old one
	newOnly := mustBox(t, bytes.Clone(newKey)) // once the old key is retired

	if rotated.KeyID() == before.KeyID() || rotated.KeyID() != newOnly.KeyID() {
		t.Errorf("key ids: before %s, rotated %s, new only %s; want rotated = new only ≠ before",
			before.KeyID(), rotated.KeyID(), newOnly.KeyID())
	}

	underOld := seal(t, before, "lobby", []byte("sealed before"), []byte("seq=1"))
	if pt, err := rotated.Open("lobby", underOld, []byte("seq=1")); err != nil || string(pt) != "sealed before" {
		t.Errorf("rotated box: Open of a record under the old key = %q, %v", pt, err)
	}
	mustNotOpen(t, newOnly, "lobby", underOld, []byte("seq=1"), "new key only, record under the old key")

	underNew := seal(t, rotated, "lobby", []byte("sealed after"), []byte("seq=2"))
	if !bytes.Equal(underNew[1:1+keyIDSize], newOnly.keys[0].id[:]) {
		t.Errorf("rotated box sealed under key id %x, want the new key's %s", underNew[1:1+keyIDSize], newOnly.KeyID())
	}
	if pt, err := newOnly.Open("lobby", underNew, []byte("seq=2")); err != nil || string(pt) != "sealed after" {
		t.Errorf("new key only: Open of a record the rotated box sealed = %q, %v", pt, err)
	}
	mustNotOpen(t, before, "lobby", underNew, []byte("seq=2"), "old key only, record under the new key")
}

// TestOpenUnknownKeyID: a record under a key the Box does not know fails
// with ErrOpen, whether its id is another real key's or a forged one, and
// whether or not the rest of the record is valid for a known key.
func TestOpenUnknownKeyID(t *testing.T) {
	box := mustBox(t, mustKey(t), mustKey(t))
	stranger := newTestBox(t)
	ad := []byte("seq=9")
	ours := seal(t, box, "r", []byte("ours"), ad)

	// Our record with the stranger's key id, and the stranger's record with
	// ours: the id names a key, the tag is of another.
	withTheirID := bytes.Clone(ours)
	copy(withTheirID[1:], stranger.keys[0].id[:])
	theirs := seal(t, stranger, "r", []byte("theirs"), ad)
	withOurID := bytes.Clone(theirs)
	copy(withOurID[1:], box.keys[0].id[:])
	withOldID := bytes.Clone(ours)
	copy(withOldID[1:], box.keys[1].id[:])

	tests := []struct {
		name   string
		record []byte
	}{
		{"a stranger's record", theirs},
		{"our record under the stranger's key id", withTheirID},
		{"the stranger's record under our key id", withOurID},
		{"our record under our old key's id", withOldID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustNotOpen(t, box, "r", tt.record, ad, tt.name)
		})
	}
	if pt, err := box.Open("r", ours, ad); err != nil || string(pt) != "ours" {
		t.Errorf("control: our own record: Open = %q, %v", pt, err)
	}
}

// TestOpenEveryKey seals under each of several keys and opens every record
// with one Box that knows them all, in every room, so that the per-key room
// caches cannot mix keys up.
func TestOpenEveryKey(t *testing.T) {
	keys := [][]byte{mustKey(t), mustKey(t), mustKey(t)}
	all := mustBox(t, keys[0], keys[1:]...)
	for i, key := range keys {
		single := mustBox(t, key)
		for _, room := range []string{"a", "b"} {
			msg := []byte(fmt.Sprintf("key %d room %s", i, room))
			record := seal(t, single, room, msg, nil)
			if pt, err := all.Open(room, record, nil); err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("key %d, room %s: Open = %q, %v", i, room, pt, err)
			}
			mustNotOpen(t, all, map[string]string{"a": "b", "b": "a"}[room], record, nil, "other room")
		}
	}
}
