package static

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// vendored is one block of VERSIONS.
type vendored struct {
	fields map[string]string
	line   int
}

// parseVersions reads VERSIONS: "key: value" blocks separated by blank lines,
// '#' lines are comments.
func parseVersions(t *testing.T) []vendored {
	t.Helper()
	data, err := os.ReadFile("VERSIONS")
	if err != nil {
		t.Fatalf("read VERSIONS: %v", err)
	}
	var out []vendored
	var cur *vendored
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case line == "":
			cur = nil
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("VERSIONS:%d: want \"key: value\", got %q", n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if cur == nil {
			out = append(out, vendored{fields: map[string]string{}, line: n})
			cur = &out[len(out)-1]
		}
		if _, dup := cur.fields[key]; dup {
			t.Fatalf("VERSIONS:%d: duplicate key %q", n, key)
		}
		cur.fields[key] = val
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan VERSIONS: %v", err)
	}
	for _, v := range out {
		for _, k := range []string{"file", "package", "path", "sha384", "sha256", "license"} {
			if v.fields[k] == "" {
				t.Errorf("VERSIONS:%d: block is missing %q", v.line, k)
			}
		}
	}
	return out
}

func TestVendoredHashes(t *testing.T) {
	entries := parseVersions(t)
	listed := map[string]bool{}
	for _, e := range entries {
		name := e.fields["file"]
		listed[name] = true
		t.Run(name, func(t *testing.T) {
			// Check the embedded copy: it is what the server sends.
			data, err := fs.ReadFile(Files, name)
			if err != nil {
				t.Fatalf("%s not embedded: %v", name, err)
			}
			s256 := sha256.Sum256(data)
			if got, want := hex.EncodeToString(s256[:]), e.fields["sha256"]; got != want {
				t.Errorf("%s sha256 = %s, VERSIONS says %s (vendored file modified?)", name, got, want)
			}
			s384 := sha512.Sum384(data)
			if got, want := base64.StdEncoding.EncodeToString(s384[:]), e.fields["sha384"]; got != want {
				t.Errorf("%s sha384 = %s, VERSIONS says %s", name, got, want)
			}
		})
	}
	for _, name := range []string{HTMX, HTMXSSE, HTMXLicense} {
		if !listed[name] {
			t.Errorf("%s is not listed in VERSIONS", name)
		}
	}
}

func TestIntegrityConstants(t *testing.T) {
	sri := map[string]string{}
	for _, e := range parseVersions(t) {
		sri[e.fields["file"]] = "sha384-" + e.fields["sha384"]
	}
	for name, c := range map[string]string{HTMX: HTMXIntegrity, HTMXSSE: HTMXSSEIntegrity} {
		if sri[name] != c {
			t.Errorf("integrity constant for %s = %q, VERSIONS gives %q", name, c, sri[name])
		}
	}
}

func TestAppAssetsEmbedded(t *testing.T) {
	for _, name := range append([]string{AppCSS, ReadingJS, Favicon, FaviconUnread}, Modules()...) {
		data, err := fs.ReadFile(Files, name)
		if err != nil {
			t.Errorf("%s not embedded: %v", name, err)
			continue
		}
		if len(bytes.TrimSpace(data)) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

func TestNoStrayFiles(t *testing.T) {
	// Everything embedded must be either vendored (and hashed) or ours.
	known := map[string]bool{AppCSS: true, ReadingJS: true, Favicon: true, FaviconUnread: true}
	for _, name := range Modules() {
		known[name] = true
	}
	for _, e := range parseVersions(t) {
		known[e.fields["file"]] = true
	}
	err := fs.WalkDir(Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !known[p] {
			t.Errorf("embedded file %s is neither vendored in VERSIONS nor an app asset", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
