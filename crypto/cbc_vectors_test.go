package crypto

import (
	"bytes"
	"testing"
)

// TestCAVP runs the NIST CAVP AES-256 CBC known-answer files through the raw
// CBC core (no padding), in the direction each section names and back.
func TestCAVP(t *testing.T) {
	tests := []struct {
		file             string
		encrypt, decrypt int // vectors expected in each section
	}{
		{"CBCGFSbox256.rsp", 5, 5},
		{"CBCKeySbox256.rsp", 16, 16},
		{"CBCVarKey256.rsp", 256, 256},
		{"CBCMMT256.rsp", 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			counts := map[string]int{}
			for _, r := range readKV(t, tt.file) {
				counts[r.section]++
				key, iv := r.hex(t, "KEY"), r.hex(t, "IV")
				pt, ct := r.hex(t, "PLAINTEXT"), r.hex(t, "CIPHERTEXT")
				block, err := newAES256(key)
				if err != nil {
					t.Fatalf("%v: %v", r, err)
				}
				if len(pt) != len(ct) || len(pt)%blockSize != 0 {
					t.Fatalf("%v: plaintext %d bytes, ciphertext %d", r, len(pt), len(ct))
				}
				gotCT := make([]byte, len(pt))
				encryptBlocks(block, iv, gotCT, pt)
				gotPT := make([]byte, len(ct))
				decryptBlocks(block, iv, gotPT, ct)
				switch r.section {
				case "ENCRYPT":
					if !bytes.Equal(gotCT, ct) {
						t.Errorf("%v: encrypt = %x, want %x", r, gotCT, ct)
					}
				case "DECRYPT":
					if !bytes.Equal(gotPT, pt) {
						t.Errorf("%v: decrypt = %x, want %x", r, gotPT, pt)
					}
				default:
					t.Fatalf("%v: unknown section", r)
				}
				// Both directions must hold for every vector, also in place.
				if !bytes.Equal(gotCT, ct) || !bytes.Equal(gotPT, pt) {
					t.Errorf("%v: not a round trip", r)
				}
				buf := bytes.Clone(pt)
				encryptBlocks(block, iv, buf, buf)
				decryptBlocks(block, iv, buf, buf)
				if !bytes.Equal(buf, pt) {
					t.Errorf("%v: in-place round trip = %x", r, buf)
				}
			}
			if counts["ENCRYPT"] != tt.encrypt || counts["DECRYPT"] != tt.decrypt || len(counts) != 2 {
				t.Errorf("read %v vectors, want ENCRYPT:%d DECRYPT:%d", counts, tt.encrypt, tt.decrypt)
			}
		})
	}
}

type cbcGroup struct {
	KeySize int       `json:"keySize"`
	IVSize  int       `json:"ivSize"`
	Tests   []cbcCase `json:"tests"`
}

type cbcCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Key     hexBytes `json:"key"`
	IV      hexBytes `json:"iv"`
	Msg     hexBytes `json:"msg"`
	Ct      hexBytes `json:"ct"`
	Result  string   `json:"result"`
}

// TestWycheproofCBC runs every AES-256 case of Wycheproof's AES-CBC-PKCS5
// file through EncryptCBC and DecryptCBC. Valid cases must encrypt to exactly
// ct and decrypt back; invalid ones (bad padding, no padding, empty or
// partial blocks) must give ErrInvalidCiphertext and nothing else.
func TestWycheproofCBC(t *testing.T) {
	f := readWycheproof[cbcGroup](t, "wycheproof_aes_cbc_pkcs5_test.json", "AES-CBC-PKCS5")
	total := 0
	counts := map[string]int{}
	for _, g := range f.TestGroups {
		total += len(g.Tests)
		if g.KeySize != 256 {
			continue
		}
		if g.IVSize != 128 {
			t.Fatalf("group with ivSize %d", g.IVSize)
		}
		for _, tc := range g.Tests {
			counts[tc.Result]++
			switch tc.Result {
			case "valid":
				ct, err := EncryptCBC(tc.Key, tc.IV, tc.Msg)
				if err != nil || !bytes.Equal(ct, tc.Ct) {
					t.Errorf("tc %d (%s): EncryptCBC = %x, %v; want %x", tc.TcID, tc.Comment, ct, err, tc.Ct)
				}
				pt, err := DecryptCBC(tc.Key, tc.IV, tc.Ct)
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tc %d (%s): DecryptCBC = %x, %v; want %x", tc.TcID, tc.Comment, pt, err, tc.Msg)
				}
			case "invalid":
				pt, err := DecryptCBC(tc.Key, tc.IV, tc.Ct)
				if err != ErrInvalidCiphertext || pt != nil {
					t.Errorf("tc %d (%s, %v): DecryptCBC = %x, %v; want ErrInvalidCiphertext", tc.TcID, tc.Comment, tc.Flags, pt, err)
				}
			default:
				t.Errorf("tc %d: result %q", tc.TcID, tc.Result)
			}
		}
	}
	if total != 216 || f.NumberOfTests != 216 {
		t.Errorf("file has %d tests (header says %d), want 216", total, f.NumberOfTests)
	}
	if counts["valid"] != 24 || counts["invalid"] != 48 || len(counts) != 2 {
		t.Errorf("AES-256 cases %v, want valid:24 invalid:48", counts)
	}
}
