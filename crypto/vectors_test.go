package crypto

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// This file reads the published vector files in testdata. The tests that use
// them live in cbc_vectors_test.go, mac_vectors_test.go and
// kdf_vectors_test.go; each asserts how many vectors it read, so a parser
// that silently reads nothing fails.

// kvRecord is one "COUNT = n" block of a NIST CAVP .rsp file or of the RFC
// transcriptions, which share its "NAME = value" layout.
type kvRecord struct {
	file    string
	line    int    // line of the COUNT field, for failure messages
	section string // "ENCRYPT" or "DECRYPT" in CAVP files; empty elsewhere
	fields  map[string]string
}

// readKV parses testdata/name into its COUNT blocks. Comment lines start
// with '#', a line "[NAME]" starts a section, and every other non-blank line
// must be "NAME = value" (the value may be empty).
func readKV(t *testing.T, name string) []kvRecord {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var recs []kvRecord
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not a NAME = value line: %q", name, i+1, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if key == "COUNT" {
			recs = append(recs, kvRecord{file: name, line: i + 1, section: section, fields: map[string]string{}})
		}
		if len(recs) == 0 {
			t.Fatalf("%s:%d: field %s before the first COUNT", name, i+1, key)
		}
		r := recs[len(recs)-1]
		if _, dup := r.fields[key]; dup {
			t.Fatalf("%s:%d: field %s twice in one record", name, i+1, key)
		}
		r.fields[key] = value
	}
	return recs
}

// String names the record in failure messages.
func (r kvRecord) String() string {
	return r.file + ":" + strconv.Itoa(r.line) + " [" + r.section + "] COUNT=" + r.fields["COUNT"]
}

// field returns the named field, failing the test if the record lacks it.
func (r kvRecord) field(t *testing.T, name string) string {
	t.Helper()
	v, ok := r.fields[name]
	if !ok {
		t.Fatalf("%v: no field %s", r, name)
	}
	return v
}

// hex returns the named field decoded from hex.
func (r kvRecord) hex(t *testing.T, name string) []byte {
	t.Helper()
	b, err := hex.DecodeString(r.field(t, name))
	if err != nil {
		t.Fatalf("%v: field %s: %v", r, name, err)
	}
	return b
}

// int returns the named field as a decimal number.
func (r kvRecord) int(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(r.field(t, name))
	if err != nil {
		t.Fatalf("%v: field %s: %v", r, name, err)
	}
	return n
}

// hexBytes is a byte string written as hex in a Wycheproof JSON file.
type hexBytes []byte

// UnmarshalJSON decodes a JSON string of hex digits.
func (h *hexBytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = b
	return nil
}

// wycheproofFile is the part of a Wycheproof vector file shared by all
// schemas; G is the schema's test group type.
type wycheproofFile[G any] struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []G    `json:"testGroups"`
}

// readWycheproof decodes testdata/name, checks its algorithm name and returns
// its test groups.
func readWycheproof[G any](t *testing.T, name, algorithm string) wycheproofFile[G] {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofFile[G]
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if f.Algorithm != algorithm {
		t.Fatalf("%s: algorithm %q, want %q", name, f.Algorithm, algorithm)
	}
	return f
}

// mustHex decodes a hex literal written in a test.
func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}
