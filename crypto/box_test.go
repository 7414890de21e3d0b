package crypto

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// newTestBox returns a Box with a fresh random master key.
func newTestBox(t testing.TB) *Box {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustKey returns a new random master key or fails the test.
func mustKey(t testing.TB) []byte {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// mustBox returns NewBox(current, old...) or fails the test.
func mustBox(t testing.TB, current []byte, old ...[]byte) *Box {
	t.Helper()
	b, err := NewBox(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seal seals plaintext or fails the test.
func seal(t testing.TB, b *Box, room string, plaintext, ad []byte) []byte {
	t.Helper()
	record, err := b.Seal(room, plaintext, ad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return record
}

func TestNewKey(t *testing.T) {
	k1, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || len(k2) != 32 {
		t.Fatalf("key lengths %d, %d; want 32", len(k1), len(k2))
	}
	if bytes.Equal(k1, k2) {
		t.Error("two keys are equal")
	}
}

func TestNewBoxKeyLength(t *testing.T) {
	tests := []struct {
		size int
		ok   bool
	}{
		{0, false}, {16, false}, {24, false}, {31, false}, {32, true}, {33, false}, {64, false},
	}
	for _, tt := range tests {
		key := bytes.Repeat([]byte{'K'}, tt.size)
		b, err := NewBox(key)
		if (err == nil) != tt.ok || (b != nil) != tt.ok {
			t.Errorf("size %d: NewBox = %v, %v; want ok=%v", tt.size, b, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "KKKK") {
			t.Errorf("size %d: error %q shows the key", tt.size, err)
		}
	}
}

// TestNewBoxCopiesKey overwrites the caller's key after NewBox and checks
// that the Box still derives the keys of the original.
func TestNewBoxCopiesKey(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	original := bytes.Clone(key)
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	clear(key)
	twin, err := NewBox(original)
	if err != nil {
		t.Fatal(err)
	}
	record := seal(t, b, "room", []byte("hello"), nil)
	if pt, err := twin.Open("room", record, nil); err != nil || string(pt) != "hello" {
		t.Errorf("box of the original key: Open = %q, %v", pt, err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := newTestBox(t)
	lengths := make([]int, 0, 102)
	for n := 0; n <= 100; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 64<<10)
	for _, n := range lengths {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		ad := []byte(fmt.Sprintf("seq=%d", n))
		record := seal(t, b, "lobby", msg, ad)
		if want := 1 + 8 + 16 + paddedLen(n) + 32; len(record) != want {
			t.Errorf("len %d: record is %d bytes, want %d", n, len(record), want)
		}
		if record[0] != 2 {
			t.Errorf("len %d: version byte %d, want 2", n, record[0])
		}
		got, err := b.Open("lobby", record, ad)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("len %d: Open = %d bytes, %v", n, len(got), err)
		}
	}
}

// TestRecordFormat checks a record against the documented format using
// nothing but the standard library and the derived keys: the record is
// version 2 ‖ key id ‖ IV ‖ ciphertext ‖ tag, the key id is HKDF of the
// master key under its own label, the tag is HMAC-SHA-256 over version ‖ key
// id ‖ len(ad) ‖ ad ‖ IV ‖ ciphertext, and the ciphertext is
// AES-256-CBC-PKCS#7 under the IV.
func TestRecordFormat(t *testing.T) {
	master := bytes.Repeat([]byte{0x42}, 32)
	b, err := NewBox(master)
	if err != nil {
		t.Fatal(err)
	}
	room, msg, ad := "abc", []byte("the quick brown fox"), []byte("seq 7")
	record := seal(t, b, room, msg, ad)

	// The room keys, spelled out with crypto/hkdf rather than through
	// roomInfo, so that the info layout is pinned down.
	encKey, err := hkdf.Key(sha256.New, master, nil, "cloakroom/v1 enc\x00\x00\x00\x03abc", 32)
	if err != nil {
		t.Fatal(err)
	}
	macKey, err := hkdf.Key(sha256.New, master, nil, "cloakroom/v1 mac\x00\x00\x00\x03abc", 32)
	if err != nil {
		t.Fatal(err)
	}

	keyID, err := hkdf.Key(sha256.New, master, nil, "cloakroom/v1 key id", 8)
	if err != nil {
		t.Fatal(err)
	}

	if record[0] != 2 {
		t.Errorf("version %d, want 2", record[0])
	}
	id, iv, ct, tag := record[1:9], record[9:25], record[25:len(record)-32], record[len(record)-32:]
	if !bytes.Equal(id, keyID) {
		t.Errorf("key id %x, want %x", id, keyID)
	}
	if got := b.KeyID(); got != fmt.Sprintf("%x", keyID) {
		t.Errorf("KeyID() = %s, want %x", got, keyID)
	}
	mac := hmac.New(sha256.New, macKey)
	mac.Write([]byte{2})
	mac.Write(id)
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(len(ad))))
	mac.Write(ad)
	mac.Write(iv)
	mac.Write(ct)
	if want := mac.Sum(nil); !bytes.Equal(tag, want) {
		t.Errorf("tag %x, want %x", tag, want)
	}
	pt, err := DecryptCBC(encKey, iv, ct)
	if err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("DecryptCBC = %q, %v; want %q", pt, err, msg)
	}
}

func TestSealIsRandomized(t *testing.T) {
	b := newTestBox(t)
	r1 := seal(t, b, "r", []byte("same"), nil)
	r2 := seal(t, b, "r", []byte("same"), nil)
	if bytes.Equal(r1, r2) {
		t.Fatal("two seals of the same plaintext are equal")
	}
	if bytes.Equal(r1[9:25], r2[9:25]) {
		t.Error("two seals share an IV")
	}
}

// TestRoomKeysDoNotCollide derives keys for room ids that would collide if
// the id were not length-prefixed, and checks that every key is different.
func TestRoomKeysDoNotCollide(t *testing.T) {
	b := newTestBox(t)
	rooms := []string{"", "a", "b", "c", "ab", "bc", "abc", "a\x00", "\x00a", "\x00\x00\x00\x01a", "enc", "mac"}
	seen := map[string]string{}
	infos := map[string]string{}
	for _, room := range rooms {
		enc, mac, err := deriveRoomKeys(b.keys[0].prk, room)
		if err != nil {
			t.Fatal(err)
		}
		for kind, key := range map[string][]byte{"enc": enc, "mac": mac} {
			name := kind + "(" + fmt.Sprintf("%q", room) + ")"
			if len(key) != 32 {
				t.Errorf("%s is %d bytes", name, len(key))
			}
			if prev, dup := seen[string(key)]; dup {
				t.Errorf("%s equals %s", name, prev)
			}
			seen[string(key)] = name
			info, err := roomInfo(map[string]string{"enc": encLabel, "mac": macLabel}[kind], room)
			if err != nil {
				t.Fatal(err)
			}
			if prev, dup := infos[info]; dup {
				t.Errorf("info of %s equals that of %s", name, prev)
			}
			infos[info] = name
		}
	}
	if len(seen) != 2*len(rooms) {
		t.Errorf("%d distinct keys, want %d", len(seen), 2*len(rooms))
	}
	record := seal(t, b, "ab", []byte("x"), nil)
	for _, room := range []string{"a", "abc", "b"} {
		mustNotOpen(t, b, room, record, nil, "room "+room)
	}
}

func TestForget(t *testing.T) {
	oldKey, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b := newTestBox(t)
	rotated, err := NewBox(mustKey(t), oldKey)
	if err != nil {
		t.Fatal(err)
	}
	underOld := seal(t, mustBox(t, oldKey), "r", []byte("old"), nil)
	for _, box := range []*Box{b, rotated} {
		record := seal(t, box, "r", []byte("kept"), nil)
		if _, err := box.Open("r", underOld, nil); box == rotated && err != nil {
			t.Fatalf("rotated box: Open of a record under the old key: %v", err)
		}
		box.Forget("r")
		box.Forget("never used")
		if n := cachedRooms(box); n != 0 {
			t.Errorf("%d rooms cached after Forget, want 0", n)
		}
		if pt, err := box.Open("r", record, nil); err != nil || string(pt) != "kept" {
			t.Errorf("Open after Forget = %q, %v", pt, err)
		}
	}
}

// cachedRooms counts the rooms cached under all of b's keys.
func cachedRooms(b *Box) int {
	n := 0
	for _, k := range b.keys {
		k.mu.RLock()
		n += len(k.rooms)
		k.mu.RUnlock()
	}
	return n
}
