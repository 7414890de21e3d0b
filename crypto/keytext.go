package crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Ways a key text can be wrong that need no numbers to explain.
var (
	errKeyEmpty     = errors.New("no key in it: the file is empty or blank (make one with: cloakroom keygen FILE)")
	errKeyLines     = errors.New("more than one line: the key must stand alone on one line (one newline after it is fine)")
	errKeyAlphabets = errors.New("not base64: it mixes the standard (+ /) and the URL (- _) base64 alphabets")
)

// ParseKey reads a 32-byte master key from the text of a key file: 64 hex
// digits (either case), or base64 in the standard or the URL alphabet, with
// or without padding (44 or 43 characters). Spaces and tabs around the key
// and one newline (LF or CRLF) at the end are allowed; nothing else is.
//
// An error says, in words meant for the operator, which rule the text broke:
// blank, more than one line, a space inside, neither hex nor base64, or
// decoding to the wrong number of bytes (and to how many). No error quotes
// the text, which may be a real key with a typo in it; errors give positions
// (counted in bytes from 1, after leading spaces) instead. The returned key
// is a new slice the caller should clear once it is used.
func ParseKey(text []byte) ([]byte, error) {
	s, err := keyField(text)
	if err != nil {
		return nil, err
	}
	hexOnly := isHex(s)
	if hexOnly && len(s) == 2*keySize {
		key := make([]byte, keySize)
		if _, err := hex.Decode(key, s); err != nil { // unreachable: s is hex digits
			return nil, errors.New("not hex")
		}
		return key, nil
	}
	// A text of 43 or 44 hex digits could be base64 of a key, so that is
	// tried too; the lengths of the two never meet elsewhere.
	key, b64err := decodeBase64(s)
	if b64err == nil && len(key) == keySize {
		return key, nil
	}
	n := len(key)
	clear(key)
	switch {
	case hexOnly && len(s)%2 == 1:
		return nil, fmt.Errorf("%d hex digits, an odd number; a key is 64 hex digits (32 bytes)", len(s))
	case hexOnly:
		return nil, fmt.Errorf("decodes as hex to %d bytes; a key is 32 bytes (64 hex digits)", len(s)/2)
	case len(s) == 2*keySize:
		// The length of a hex key: more likely a typo in one than base64.
		return nil, fmt.Errorf("not hex: byte %d is not a hex digit (64 characters are read as hex)", firstNonHex(s)+1)
	case b64err == nil:
		return nil, fmt.Errorf("decodes as base64 to %d bytes; a key is 32 bytes (44 base64 characters, or 43 without padding)", n)
	}
	return nil, b64err
}

// keyField returns the key's characters in text: one trailing newline and
// the spaces and tabs around it removed, checked to be one nonempty word.
func keyField(text []byte) ([]byte, error) {
	s := text
	if bytes.HasSuffix(s, []byte("\r\n")) {
		s = s[:len(s)-2]
	} else if bytes.HasSuffix(s, []byte("\n")) {
		s = s[:len(s)-1]
	}
	if bytes.ContainsAny(s, "\r\n") {
		return nil, errKeyLines
	}
	s = bytes.Trim(s, " \t")
	if len(s) == 0 {
		return nil, errKeyEmpty
	}
	if i := bytes.IndexAny(s, " \t"); i >= 0 {
		return nil, fmt.Errorf("a space or tab inside the key, at byte %d: the key is one word of hex or base64", i+1)
	}
	return s, nil
}

// isHex reports whether s is all hex digits, of either case.
func isHex(s []byte) bool { return firstNonHex(s) < 0 }

// firstNonHex returns the index of the first byte of s that is not a hex
// digit, or -1 if there is none.
func firstNonHex(s []byte) int {
	for i, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return i
		}
	}
	return -1
}

// decodeBase64 decodes s as base64, choosing the alphabet by the characters
// s uses and the padding by whether it ends in '='. Decoding is strict: the
// unused bits of the last character must be zero, so every key has exactly
// one text per alphabet and padding. On an error, the error is the one
// ParseKey returns.
func decodeBase64(s []byte) ([]byte, error) {
	std := bytes.ContainsAny(s, "+/")
	url := bytes.ContainsAny(s, "-_")
	if std && url {
		return nil, errKeyAlphabets
	}
	for i, c := range s {
		if !isBase64Char(c) {
			return nil, fmt.Errorf("neither hex nor base64: byte %d is not a base64 character", i+1)
		}
	}
	enc := base64.StdEncoding
	if url {
		enc = base64.URLEncoding
	}
	if s[len(s)-1] != '=' {
		enc = enc.WithPadding(base64.NoPadding)
	}
	out := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Strict().Decode(out, s)
	if err != nil {
		clear(out)
		var at base64.CorruptInputError
		if errors.As(err, &at) {
			return nil, fmt.Errorf("not valid base64 from byte %d on (its padding or length is wrong)", int64(at)+1)
		}
		return nil, errors.New("not valid base64")
	}
	return out[:n], nil
}

// isBase64Char reports whether c belongs to either base64 alphabet or is
// the padding character.
func isBase64Char(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '+' || c == '/' || c == '-' || c == '_' || c == '='
}
