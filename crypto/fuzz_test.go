package crypto

import (
	"bytes"
	"testing"
)

// FuzzOpen XORs the fuzz input, as a mask, onto a valid record; mask bytes
// beyond the record's end are appended to it. Open must never panic, must
// succeed only when the mask changes nothing, and must refuse everything
// else with ErrOpen. The raw input is also tried as a record of its own.
func FuzzOpen(f *testing.F) {
	master := bytes.Repeat([]byte{0x5a}, 32)
	b, err := NewBox(master)
	if err != nil {
		f.Fatal(err)
	}
	const room = "fuzz room"
	msg, ad := []byte("a record the fuzzer may not change"), []byte("seq=1")
	record, err := b.Seal(room, msg, ad)
	if err != nil {
		f.Fatal(err)
	}

	f.Add([]byte{})
	f.Add(make([]byte, len(record)))
	f.Add([]byte{1})
	f.Add(append(make([]byte, len(record)), 0))

	f.Fuzz(func(t *testing.T, mask []byte) {
		forged := bytes.Clone(record)
		changed := len(mask) > len(record)
		for i, m := range mask {
			if i < len(forged) {
				forged[i] ^= m
			} else {
				forged = append(forged, m)
			}
			changed = changed || m != 0
		}
		pt, err := b.Open(room, forged, ad)
		switch {
		case changed && (err != ErrOpen || pt != nil):
			t.Fatalf("changed record: Open = %q, %v; want ErrOpen", pt, err)
		case !changed && (err != nil || !bytes.Equal(pt, msg)):
			t.Fatalf("unchanged record: Open = %q, %v", pt, err)
		}
		if pt, err := b.Open(room, mask, ad); err != ErrOpen || pt != nil {
			t.Fatalf("raw input: Open = %q, %v; want ErrOpen", pt, err)
		}
	})
}

// FuzzDecryptCBC feeds arbitrary ciphertexts to DecryptCBC. It must never
// panic and must either fail with ErrInvalidCiphertext or return a plaintext
// that EncryptCBC turns back into the same ciphertext.
func FuzzDecryptCBC(f *testing.F) {
	key := bytes.Repeat([]byte{0xa5}, 32)
	iv := bytes.Repeat([]byte{0x3c}, 16)
	valid, err := EncryptCBC(key, iv, []byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add(make([]byte, 33))

	f.Fuzz(func(t *testing.T, ct []byte) {
		pt, err := DecryptCBC(key, iv, ct)
		if err != nil {
			if err != ErrInvalidCiphertext || pt != nil {
				t.Fatalf("DecryptCBC = %x, %v; want ErrInvalidCiphertext", pt, err)
			}
			return
		}
		if len(pt) >= len(ct) || len(pt) < len(ct)-blockSize {
			t.Fatalf("%d-byte plaintext from %d-byte ciphertext", len(pt), len(ct))
		}
		again, err := EncryptCBC(key, iv, pt)
		if err != nil || !bytes.Equal(again, ct) {
			t.Fatalf("re-encryption = %x, %v; want %x", again, err, ct)
		}
	})
}
