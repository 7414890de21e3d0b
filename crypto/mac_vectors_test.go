package crypto

import (
	"crypto/hmac"
	"slices"
	"testing"
)

// TestRFC4231 checks the HMAC that Box uses (newMAC) against RFC 4231's
// HMAC-SHA-256 test cases. Test case 5, a truncated tag, is not in the file.
func TestRFC4231(t *testing.T) {
	var seen []int
	for _, r := range readKV(t, "rfc-4231-hmac-sha256.txt") {
		seen = append(seen, r.int(t, "COUNT"))
		mac := newMAC(r.hex(t, "Key"))
		mac.Write(r.hex(t, "Data"))
		if got, want := mac.Sum(nil), r.hex(t, "Mac"); !hmac.Equal(got, want) {
			t.Errorf("%v: HMAC = %x, want %x", r, got, want)
		}
	}
	if want := []int{1, 2, 3, 4, 6, 7}; !slices.Equal(seen, want) {
		t.Errorf("read test cases %v, want %v", seen, want)
	}
}

type macGroup struct {
	KeySize int       `json:"keySize"`
	TagSize int       `json:"tagSize"`
	Tests   []macCase `json:"tests"`
}

type macCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Key     hexBytes `json:"key"`
	Msg     hexBytes `json:"msg"`
	Tag     hexBytes `json:"tag"`
	Result  string   `json:"result"`
}

// TestWycheproofHMAC checks newMAC against Wycheproof's HMAC-SHA-256 file. In
// groups with a tagSize below 256 bits the tag is the leading tagSize/8
// bytes of the MAC, as Wycheproof defines it; a case is valid exactly when
// the (truncated) MAC equals its tag.
func TestWycheproofHMAC(t *testing.T) {
	f := readWycheproof[macGroup](t, "wycheproof_hmac_sha256_test.json", "HMACSHA256")
	counts := map[string]int{}
	for _, g := range f.TestGroups {
		if g.TagSize%8 != 0 || g.TagSize > 256 || g.TagSize == 0 {
			t.Fatalf("group with tagSize %d", g.TagSize)
		}
		for _, tc := range g.Tests {
			counts[tc.Result]++
			if len(tc.Key)*8 != g.KeySize {
				t.Errorf("tc %d: key is %d bytes, group says %d bits", tc.TcID, len(tc.Key), g.KeySize)
			}
			mac := newMAC(tc.Key)
			mac.Write(tc.Msg)
			got := mac.Sum(nil)[:g.TagSize/8]
			if match, want := hmac.Equal(got, tc.Tag), tc.Result == "valid"; match != want {
				t.Errorf("tc %d (%s, %s): MAC %x vs tag %x: match = %v", tc.TcID, tc.Comment, tc.Result, got, tc.Tag, match)
			}
		}
	}
	if f.NumberOfTests != 174 || counts["valid"]+counts["invalid"] != 174 {
		t.Errorf("read %v (header says %d), want 174 in all", counts, f.NumberOfTests)
	}
	if counts["valid"] != 66 || counts["invalid"] != 108 || len(counts) != 2 {
		t.Errorf("read %v, want valid:66 invalid:108", counts)
	}
}
