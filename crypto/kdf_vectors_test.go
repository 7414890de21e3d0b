package crypto

import (
	"bytes"
	"slices"
	"testing"
)

// TestRFC5869 checks hkdfExtract and hkdfExpand, the functions Box derives
// its room keys with, against RFC 5869's HKDF-SHA-256 cases, PRK and OKM.
func TestRFC5869(t *testing.T) {
	var seen []int
	for _, r := range readKV(t, "rfc-5869-HKDF-SHA256.txt") {
		seen = append(seen, r.int(t, "COUNT"))
		if h := r.field(t, "Hash"); h != "SHA-256" {
			t.Fatalf("%v: hash %s", r, h)
		}
		prk, err := hkdfExtract(r.hex(t, "IKM"), r.hex(t, "salt"))
		if err != nil {
			t.Fatalf("%v: extract: %v", r, err)
		}
		if want := r.hex(t, "PRK"); !bytes.Equal(prk, want) {
			t.Errorf("%v: PRK = %x, want %x", r, prk, want)
		}
		okm, err := hkdfExpand(prk, string(r.hex(t, "info")), r.int(t, "L"))
		if err != nil {
			t.Fatalf("%v: expand: %v", r, err)
		}
		if want := r.hex(t, "OKM"); !bytes.Equal(okm, want) {
			t.Errorf("%v: OKM = %x, want %x", r, okm, want)
		}
	}
	if want := []int{1, 2, 3}; !slices.Equal(seen, want) {
		t.Errorf("read test cases %v, want %v", seen, want)
	}
}

type hkdfGroup struct {
	KeySize int        `json:"keySize"`
	Tests   []hkdfCase `json:"tests"`
}

type hkdfCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	IKM     hexBytes `json:"ikm"`
	Salt    hexBytes `json:"salt"`
	Info    hexBytes `json:"info"`
	Size    int      `json:"size"`
	OKM     hexBytes `json:"okm"`
	Result  string   `json:"result"`
}

// TestWycheproofHKDF checks hkdfExtract and hkdfExpand against Wycheproof's
// HKDF-SHA-256 file. Its invalid cases ask for more than 255·32 bytes, which
// must be an error rather than a short or repeating key.
func TestWycheproofHKDF(t *testing.T) {
	f := readWycheproof[hkdfGroup](t, "wycheproof_hkdf_sha256_test.json", "HKDF-SHA-256")
	counts := map[string]int{}
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			counts[tc.Result]++
			prk, err := hkdfExtract(tc.IKM, tc.Salt)
			if err != nil {
				t.Fatalf("tc %d: extract: %v", tc.TcID, err)
			}
			okm, err := hkdfExpand(prk, string(tc.Info), tc.Size)
			switch tc.Result {
			case "valid":
				if err != nil || !bytes.Equal(okm, tc.OKM) {
					t.Errorf("tc %d (%s): OKM = %x, %v; want %x", tc.TcID, tc.Comment, okm, err, tc.OKM)
				}
			case "invalid":
				if err == nil {
					t.Errorf("tc %d (%s): size %d accepted", tc.TcID, tc.Comment, tc.Size)
				}
			default:
				t.Errorf("tc %d: result %q", tc.TcID, tc.Result)
			}
		}
	}
	if f.NumberOfTests != 86 || counts["valid"] != 83 || counts["invalid"] != 3 || len(counts) != 2 {
		t.Errorf("read %v (header says %d), want valid:83 invalid:3", counts, f.NumberOfTests)
	}
}
