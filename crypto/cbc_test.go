package crypto

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"strings"
	"testing"
)

// NIST SP 800-38A (2001), Appendix F.2.5 (CBC-AES256.Encrypt) and F.2.6
// (CBC-AES256.Decrypt). A US Government work, typed in from the document.
const (
	sp80038aKey = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
	sp80038aIV  = "000102030405060708090a0b0c0d0e0f"
	sp80038aPT  = "6bc1bee22e409f96e93d7e117393172a" +
		"ae2d8a571e03ac9c9eb76fac45af8e51" +
		"30c81c46a35ce411e5fbc1191a0a52ef" +
		"f69f2445df4f9b17ad2b417be66c3710"
	sp80038aCT = "f58c4c04d6e5f1ba779eabfb5f7bfbd6" +
		"9cfc4e967edb808d679f777bc6702c7d" +
		"39f23369a9d9bacfa530e26304231461" +
		"b2eb05e2c39be9fcda6c19078c6a9d1b"
)

func TestSP80038A(t *testing.T) {
	key, iv := mustHex(t, sp80038aKey), mustHex(t, sp80038aIV)
	pt, ct := mustHex(t, sp80038aPT), mustHex(t, sp80038aCT)
	block, err := newAES256(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		crypt   func(block cipher.Block, iv, dst, src []byte)
		in, out []byte
	}{
		{"F.2.5 encrypt", encryptBlocks, pt, ct},
		{"F.2.6 decrypt", decryptBlocks, ct, pt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make([]byte, len(tt.in))
			tt.crypt(block, iv, got, tt.in)
			if !bytes.Equal(got, tt.out) {
				t.Errorf("got %x, want %x", got, tt.out)
			}
			// In place, as Seal uses it.
			buf := bytes.Clone(tt.in)
			tt.crypt(block, iv, buf, buf)
			if !bytes.Equal(buf, tt.out) {
				t.Errorf("in place: got %x, want %x", buf, tt.out)
			}
		})
	}
}

// TestEncryptCBCPadding checks that EncryptCBC is the raw core applied to the
// PKCS#7-padded message, on the SP 800-38A key, for lengths around a block
// boundary.
func TestEncryptCBCPadding(t *testing.T) {
	key, iv := mustHex(t, sp80038aKey), mustHex(t, sp80038aIV)
	block, err := newAES256(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		msgLen, ctLen int
		padByte       byte
	}{
		{0, 16, 16}, {1, 16, 15}, {15, 16, 1}, {16, 32, 16}, {17, 32, 15}, {31, 32, 1}, {32, 48, 16},
	}
	for _, tt := range tests {
		msg := bytes.Repeat([]byte{'m'}, tt.msgLen)
		ct, err := EncryptCBC(key, iv, msg)
		if err != nil || len(ct) != tt.ctLen {
			t.Fatalf("len %d: EncryptCBC gave %d bytes, %v; want %d", tt.msgLen, len(ct), err, tt.ctLen)
		}
		padded := make([]byte, len(ct))
		decryptBlocks(block, iv, padded, ct)
		want := append(bytes.Clone(msg), bytes.Repeat([]byte{tt.padByte}, tt.ctLen-tt.msgLen)...)
		if !bytes.Equal(padded, want) {
			t.Errorf("len %d: padded plaintext %x, want %x", tt.msgLen, padded, want)
		}
		back, err := DecryptCBC(key, iv, ct)
		if err != nil || !bytes.Equal(back, msg) {
			t.Errorf("len %d: DecryptCBC = %x, %v", tt.msgLen, back, err)
		}
	}
}

func TestCBCKeyAndIVSizes(t *testing.T) {
	tests := []struct {
		name    string
		key, iv int
		want    error
	}{
		{"AES-128 key", 16, 16, errKeySize},
		{"AES-192 key", 24, 16, errKeySize},
		{"short key", 31, 16, errKeySize},
		{"long key", 33, 16, errKeySize},
		{"no key", 0, 16, errKeySize},
		{"short IV", 32, 15, errIVSize},
		{"long IV", 32, 17, errIVSize},
		{"no IV", 32, 0, errIVSize},
		{"good", 32, 16, nil},
	}
	secret := []byte("do-not-print-this-key-0123456789abcdef")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, iv := secret[:tt.key], make([]byte, tt.iv)
			if _, err := EncryptCBC(key, iv, []byte("hello")); err != tt.want {
				t.Errorf("EncryptCBC error %v, want %v", err, tt.want)
			}
			ct := make([]byte, 16)
			if _, err := DecryptCBC(key, iv, ct); tt.want != nil && err != tt.want {
				t.Errorf("DecryptCBC error %v, want %v", err, tt.want)
			}
			if _, err := EncryptCBC(key, iv, nil); err != nil && strings.Contains(err.Error(), "do-not") {
				t.Errorf("error %q shows the key", err)
			}
		})
	}
}

// TestDecryptCBCMalformed builds ciphertexts whose decryption is wrong in one
// way each and checks that every one yields ErrInvalidCiphertext.
func TestDecryptCBCMalformed(t *testing.T) {
	key, iv := mustHex(t, sp80038aKey), mustHex(t, sp80038aIV)
	block, err := newAES256(key)
	if err != nil {
		t.Fatal(err)
	}
	// encrypt returns the raw CBC encryption of an already "padded" hex
	// plaintext, so the padding can be anything.
	encrypt := func(plainHex string) []byte {
		pt := mustHex(t, plainHex)
		ct := make([]byte, len(pt))
		encryptBlocks(block, iv, ct, pt)
		return ct
	}
	tests := []struct {
		name string
		ct   []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"15 bytes", make([]byte, 15)},
		{"17 bytes", make([]byte, 17)},
		{"pad byte 0", encrypt("000102030405060708090a0b0c0d0e00")},
		{"pad byte 17", encrypt("11111111111111111111111111111111")},
		{"pad byte 255", encrypt("000102030405060708090a0b0c0d0eff")},
		{"pad 2 with one 2", encrypt("000102030405060708090a0b0c0d0e02")},
		{"pad 16 with a 15", encrypt("0f101010101010101010101010101010")},
		{"pad 3 with a 2 inside", encrypt("000102030405060708090a0b0c030203")},
		{"bad pad in second block", encrypt("10101010101010101010101010101010" + "000102030405060708090a0b0c0d0e05")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := DecryptCBC(key, iv, tt.ct)
			if err != ErrInvalidCiphertext || pt != nil {
				t.Errorf("DecryptCBC = %x, %v; want ErrInvalidCiphertext", pt, err)
			}
		})
	}
}

func TestUnpad(t *testing.T) {
	tests := []struct {
		name  string
		buf   string // hex
		n     int
		valid bool
	}{
		{"one byte of padding", "000102030405060708090a0b0c0d0e01", 15, true},
		{"full block of padding", "10101010101010101010101010101010", 0, true},
		{"15 bytes of padding", "000f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", 1, true},
		{"two blocks", "0102030405060708090a0b0c0d0e0f10" + "01020304050607090909090909090909", 23, true},
		{"zero", "000102030405060708090a0b0c0d0e00", 0, false},
		{"17", "11111111111111111111111111111111", 0, false},
		{"one wrong byte at the edge", "000102030405060708090a0b0c0d0403", 0, false},
		{"empty", "", 0, false},
		{"not a block", "0101", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, valid := unpad(mustHex(t, tt.buf))
			if n != tt.n || valid != tt.valid {
				t.Errorf("unpad = %d, %v; want %d, %v", n, valid, tt.n, tt.valid)
			}
		})
	}
}

// TestUnpadMatchesReference compares the constant-time unpad with a plain
// branching version, for every value of the last byte, with no byte or one
// byte near the end corrupted.
func TestUnpadMatchesReference(t *testing.T) {
	for last := 0; last < 256; last++ {
		// flip is the position, counted from the end, of the byte to
		// corrupt; 0 corrupts none. Position 1 is the last byte itself, which
		// the loop over last already varies; 17 lies outside the last block
		// and must never matter.
		for flip := 0; flip <= blockSize+1; flip++ {
			if flip == 1 {
				continue
			}
			buf := bytes.Repeat([]byte{byte(last)}, 2*blockSize)
			if flip > 0 {
				buf[len(buf)-flip] ^= 0x80
			}
			gotN, gotOK := unpad(buf)
			wantN, wantOK := referenceUnpad(buf)
			if gotN != wantN || gotOK != wantOK {
				t.Fatalf("last %d, flip %d: unpad = %d, %v; reference %d, %v", last, flip, gotN, gotOK, wantN, wantOK)
			}
		}
	}
}

// referenceUnpad is PKCS#7 unpadding written the obvious way.
func referenceUnpad(buf []byte) (int, bool) {
	if len(buf) == 0 || len(buf)%blockSize != 0 {
		return 0, false
	}
	p := int(buf[len(buf)-1])
	if p < 1 || p > blockSize {
		return 0, false
	}
	for _, c := range buf[len(buf)-p:] {
		if int(c) != p {
			return 0, false
		}
	}
	return len(buf) - p, true
}

func TestErrInvalidCiphertextIsDistinct(t *testing.T) {
	for _, err := range []error{errKeySize, errIVSize} {
		if errors.Is(err, ErrInvalidCiphertext) {
			t.Errorf("%v matches ErrInvalidCiphertext", err)
		}
	}
}
