package crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// testKey is the key the ParseKey tables write in different ways: bytes
// 0x00 to 0x1f, whose base64 uses '+' and '/' (standard) or '-' and '_'
// (URL), so that the alphabets differ.
func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i*8 + 7)
	}
	return k
}

func TestParseKeyAccepts(t *testing.T) {
	key := testKey()
	hexKey := hex.EncodeToString(key)
	std := base64.StdEncoding.EncodeToString(key)
	url := base64.URLEncoding.EncodeToString(key)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("test key does not tell the alphabets apart: %s %s", std, url)
	}
	tests := []struct {
		name string
		text string
	}{
		{"hex", hexKey},
		{"hex with newline", hexKey + "\n"},
		{"hex with CRLF", hexKey + "\r\n"},
		{"hex upper case", strings.ToUpper(hexKey)},
		{"hex in spaces and tabs", " \t" + hexKey + " \t\n"},
		{"base64 standard padded", std},
		{"base64 standard unpadded", strings.TrimRight(std, "=") + "\n"},
		{"base64 URL padded", url + "\n"},
		{"base64 URL unpadded", strings.TrimRight(url, "=")},
		{"base64 with spaces", "  " + std + "  \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey([]byte(tt.text))
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("ParseKey = %x, %v; want %x", got, err, key)
			}
		})
	}
}

func TestParseKeyRefuses(t *testing.T) {
	key := testKey()
	hexKey := hex.EncodeToString(key)
	std := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name string
		text string
		want string // the error says this
	}{
		{"empty file", "", "the file is empty or blank"},
		{"blank line", " \t\n", "the file is empty or blank"},
		{"two newlines", hexKey + "\n\n", "more than one line"},
		{"leading newline", "\n" + hexKey, "more than one line"},
		{"two keys", hexKey + "\n" + hexKey + "\n", "more than one line"},
		{"a lone CR", hexKey[:10] + "\r" + hexKey[10:], "more than one line"},
		{"space inside", hexKey[:32] + " " + hexKey[32:], "a space or tab inside the key, at byte 33"},
		{"31 bytes of hex", hexKey[:62], "decodes as hex to 31 bytes; a key is 32 bytes (64 hex digits)"},
		{"33 bytes of hex", hexKey + "ab", "decodes as hex to 33 bytes"},
		{"odd hex", hexKey[:63], "63 hex digits, an odd number"},
		{"16 bytes of base64", base64.StdEncoding.EncodeToString(key[:16]), "decodes as base64 to 16 bytes; a key is 32 bytes"},
		{"40 bytes of base64", base64.RawURLEncoding.EncodeToString(append(key, key[:8]...)), "decodes as base64 to 40 bytes"},
		{"hex with a g", hexKey[:40] + "g" + hexKey[41:], "not hex: byte 41 is not a hex digit"},
		{"a quote", `"` + hexKey + `"`, "neither hex nor base64: byte 1 is not a base64 character"},
		{"non-ASCII in hex", hexKey[:5] + "é" + hexKey[7:], "not hex: byte 6 is not a hex digit"},
		{"non-ASCII in base64", std[:5] + "é" + std[6:], "neither hex nor base64: byte 6 is not a base64 character"},
		{"both alphabets", "+" + std[1:42] + "_", "mixes the standard (+ /) and the URL (- _) base64 alphabets"},
		{"padding inside", std[:20] + "=" + std[21:], "not valid base64 from byte 21 on"},
		{"nonzero unused bits", std[:42] + "B=", "not valid base64"},
		{"42 characters", std[:42], "not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey([]byte(tt.text))
			if err == nil || got != nil {
				t.Fatalf("ParseKey = %x, %v; want an error saying %q", got, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if word := strings.TrimSpace(tt.text); len(word) >= 20 && strings.Contains(err.Error(), word[:20]) {
				t.Errorf("error %q quotes the key text", err)
			}
		})
	}
}

// FuzzParseKey feeds ParseKey arbitrary text. It must never panic; when it
// accepts, the key is 32 bytes and the text is one of the key's own
// encodings, and when it refuses, the error does not quote the text. From
// the first 32 bytes of the input it also makes a key and checks that its
// hex and base64 texts parse back to it.
func FuzzParseKey(f *testing.F) {
	key := testKey()
	f.Add([]byte(hex.EncodeToString(key) + "\n"))
	f.Add([]byte(base64.StdEncoding.EncodeToString(key)))
	f.Add([]byte(base64.RawURLEncoding.EncodeToString(key) + "\r\n"))
	f.Add([]byte(" \t\n"))
	f.Add([]byte(hex.EncodeToString(key[:31])))
	f.Add([]byte("=" + base64.StdEncoding.EncodeToString(key)[1:]))

	f.Fuzz(func(t *testing.T, text []byte) {
		got, err := ParseKey(text)
		word := bytes.Trim(bytes.TrimSuffix(bytes.TrimSuffix(text, []byte("\n")), []byte("\r")), " \t")
		if err != nil {
			if got != nil {
				t.Fatalf("ParseKey returned %x with error %v", got, err)
			}
			if len(word) >= 16 && !bytes.ContainsAny(word, " \t\r\n") && strings.Contains(err.Error(), string(word)) {
				t.Fatalf("error %q quotes the text", err)
			}
		} else {
			if len(got) != 32 {
				t.Fatalf("ParseKey returned a %d-byte key", len(got))
			}
			encodings := []string{
				hex.EncodeToString(got), strings.ToUpper(hex.EncodeToString(got)),
				base64.StdEncoding.EncodeToString(got), base64.RawStdEncoding.EncodeToString(got),
				base64.URLEncoding.EncodeToString(got), base64.RawURLEncoding.EncodeToString(got),
			}
			found := false
			for _, e := range encodings {
				found = found || strings.EqualFold(e, string(word)) && (len(e) == 64 || e == string(word))
			}
			if !found {
				t.Fatalf("accepted %q as %x, which none of the key's encodings spells", word, got)
			}
		}

		if len(text) < 32 {
			return
		}
		k := text[:32]
		for _, e := range []string{
			hex.EncodeToString(k) + "\n",
			base64.StdEncoding.EncodeToString(k),
			base64.RawURLEncoding.EncodeToString(k) + "\r\n",
		} {
			if back, err := ParseKey([]byte(e)); err != nil || !bytes.Equal(back, k) {
				t.Fatalf("ParseKey(%q) = %x, %v; want %x", e, back, err, k)
			}
		}
	})
}
