package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/crypto"
)

// makeKeyFile runs `cloakroom keygen` for a new file name in dir and returns
// the file's path and the key in it.
func makeKeyFile(t *testing.T, dir, name string) (path string, key []byte) {
	t.Helper()
	path = filepath.Join(dir, name)
	if err := run(context.Background(), []string{"keygen", path}, noEnv, io.Discard, io.Discard); err != nil {
		t.Fatalf("keygen %s: %v", path, err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if key, err = crypto.ParseKey(text); err != nil {
		t.Fatalf("keygen wrote a key ParseKey refuses: %v", err)
	}
	return path, key
}

// writeFile writes text to path with exactly mode perm, whatever the umask.
func writeFile(t *testing.T, path, text string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// keyTexts are the ways a key could show up in output: hex in both cases,
// base64 in both alphabets, with and without padding, and the raw bytes.
func keyTexts(key []byte) []string {
	h := hex.EncodeToString(key)
	return []string{
		h, strings.ToUpper(h), string(key),
		base64.StdEncoding.EncodeToString(key), base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
	}
}

// assertNoKey fails the test if out shows any of the keys, or the first half
// of one as hex (a key cut short is still a leak).
func assertNoKey(t *testing.T, what, out string, keys ...[]byte) {
	t.Helper()
	for i, key := range keys {
		for _, s := range append(keyTexts(key), hex.EncodeToString(key[:16])) {
			if strings.Contains(out, s) {
				t.Errorf("%s shows key %d (%q):\n%s", what, i, s, out)
			}
		}
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keygen", path}, noEnv, &out, io.Discard); err != nil {
		t.Fatalf("keygen: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode() != 0o600 {
		t.Errorf("keygen wrote mode %v, want -rw-------", st.Mode())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(text) {
		t.Errorf("key file is %d bytes, not 64 hex digits and a newline", len(text))
	}
	key, err := crypto.ParseKey(text)
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Wrote a new master key (key id %s) to %s, mode 0600; start the server with --master-key-file %s\n", box.KeyID(), path, path)
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("keygen's output (-want +got):\n%s", diff)
	}
	assertNoKey(t, "keygen's output", out.String(), key)

	t.Run("never overwrites", func(t *testing.T) {
		err := run(context.Background(), []string{"keygen", path}, noEnv, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), path+" already exists; keygen never overwrites") {
			t.Errorf("keygen over an existing file: %v", err)
		}
		if again, _ := os.ReadFile(path); !bytes.Equal(again, text) {
			t.Error("the existing key file changed")
		}
	})
	t.Run("a new key each time", func(t *testing.T) {
		_, other := makeKeyFile(t, dir, "other.key")
		if bytes.Equal(other, key) {
			t.Error("two keygens wrote the same key")
		}
	})
	t.Run("a relative name is told absolutely", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		var out bytes.Buffer
		if err := run(context.Background(), []string{"keygen", "rel.key"}, noEnv, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if want := "--master-key-file " + filepath.Join(dir, "rel.key") + "\n"; !strings.HasSuffix(out.String(), want) {
			t.Errorf("keygen rel.key said %q; want it to end %q", out.String(), want)
		}
	})
	t.Run("dash writes to stdout", func(t *testing.T) {
		var out, errs bytes.Buffer
		if err := run(context.Background(), []string{"keygen", "-"}, noEnv, &out, &errs); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(out.Bytes()) {
			t.Errorf("keygen - wrote %q, want 64 hex digits and a newline only", out.String())
		}
		// The key's id goes to stderr, and it is the id a box of the key has.
		key, err := crypto.ParseKey(out.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		box, err := crypto.NewBox(key)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Wrote a new master key (key id " + box.KeyID() + ") to standard output\n"; errs.String() != want {
			t.Errorf("keygen - told stderr %q, want %q", errs.String(), want)
		}
		if _, err := os.Stat("-"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("keygen - made a file named -: %v", err)
		}
	})
	t.Run("no such directory", func(t *testing.T) {
		missing := filepath.Join(dir, "nope", "master.key")
		err := run(context.Background(), []string{"keygen", missing}, noEnv, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "keygen: "+missing+": no such file or directory") {
			t.Errorf("keygen into a missing directory: %v", err)
		}
	})
	for _, args := range [][]string{nil, {"a.key", "b.key"}, {"--help"}, {""}} {
		t.Run(fmt.Sprintf("usage %q", args), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"keygen"}, args...), noEnv, &out, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), "usage: cloakroom keygen FILE") || out.Len() > 0 {
				t.Errorf("keygen %q: %v, output %q; want the usage error and no output", args, err, out.String())
			}
		})
	}
}

// TestBadKeyFileStops: the server refuses to start on a bad key file, and
// its error names the flag, the file and the reason, never the key.
func TestBadKeyFileStops(t *testing.T) {
	dir := t.TempDir()
	good, goodKey := makeKeyFile(t, dir, "good.key")
	file := func(name, text string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, text, perm)
		return p
	}
	shortHex := hex.EncodeToString(goodKey[:31])
	short := file("short.key", shortHex+"\n", 0o600)
	shared := file("shared.key", hex.EncodeToString(goodKey)+"\n", 0o644)
	open := file("open.key", hex.EncodeToString(goodKey)+"\n", 0o602)
	hashes := file("hashes.key", strings.Repeat("#", 44)+"\n", 0o600)
	notHex := file("z.key", hex.EncodeToString(goodKey)[:63]+"z\n", 0o600)
	missing := filepath.Join(dir, "missing.key")
	// A whole key, then more than the 4 KiB read: only the length is judged.
	huge := file("huge.key", hex.EncodeToString(goodKey)+strings.Repeat("\n", 1<<20), 0o600)
	// The mode judged is the linked file's, not the link's (0777).
	link := filepath.Join(dir, "link.key")
	linkErr := os.Symlink(shared, link) // Windows may refuse to make links

	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		want      string
		unixModes bool // the row tests a mode rule, which Windows skips
	}{
		{"wrong length", []string{"--master-key-file", short}, nil,
			"--master-key-file " + short + ": decodes as hex to 31 bytes; a key is 32 bytes (64 hex digits)", false},
		{"mode 0644", []string{"--master-key-file", shared}, nil,
			"--master-key-file " + shared + ": mode 0644 lets every user read it; chmod 600 it", true},
		{"world-writable", []string{"--master-key-file", open}, nil,
			"--master-key-file " + open + ": mode 0602 lets every user change it; chmod 600 it", true},
		{"not hex or base64", []string{"--master-key-file", hashes}, nil,
			"--master-key-file " + hashes + ": neither hex nor base64: byte 1 is not a base64 character", false},
		{"hex with a typo", []string{"--master-key-file", notHex}, nil,
			"--master-key-file " + notHex + ": not hex: byte 64 is not a hex digit", false},
		{"huge", []string{"--master-key-file", huge}, nil,
			"--master-key-file " + huge + ": longer than 4 KiB; a key file holds one key", false},
		{"link to a file every user may read", []string{"--master-key-file", link}, nil,
			"--master-key-file " + link + ": mode 0644 lets every user read it", true},
		{"missing", []string{"--master-key-file", missing}, nil,
			"--master-key-file " + missing + ": no such file or directory", false},
		{"directory", []string{"--master-key-file", dir}, nil,
			"--master-key-file " + dir + ": is a directory, not a key file", false},
		{"from the environment", nil, map[string]string{"CLOAKROOM_MASTER_KEY_FILE": short},
			"--master-key-file " + short + ": decodes as hex to 31 bytes", false},
		{"bad old key file", []string{"--master-key-file", good, "--old-master-key-file", shared}, nil,
			"--old-master-key-file " + shared + ": mode 0644 lets every user read it", true},
		{"old key file alone", []string{"--old-master-key-file", good}, nil,
			"--old-master-key-file needs --master-key-file", false},
		{"old key from the environment alone", nil, map[string]string{"CLOAKROOM_OLD_MASTER_KEY_FILE": good},
			"--old-master-key-file needs --master-key-file", false},
		{"the same key twice", []string{"--master-key-file", good, "--old-master-key-file", good}, nil,
			"--old-master-key-file " + good + " holds the same key as --master-key-file " + good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unixModes && runtime.GOOS == "windows" {
				t.Skip("no mode checks on Windows")
			}
			if slices.Contains(tt.args, link) && linkErr != nil {
				t.Skipf("no symbolic link: %v", linkErr)
			}
			// Should the server start after all, the deadline stops it and
			// the nil it returns fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			err := run(ctx, append([]string{"--addr", "127.0.0.1:0", "--log-level", "debug"}, tt.args...), getenv, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v; want an error saying %q", err, tt.want)
			}
			if strings.Contains(stdout.String(), "listening") {
				t.Errorf("the server started: %s", stdout.String())
			}
			assertNoKey(t, "the error", err.Error(), goodKey)
			assertNoKey(t, "the log", stderr.String(), goodKey)
			if strings.Contains(err.Error(), shortHex[:16]) {
				t.Errorf("the error quotes the short key: %v", err)
			}
		})
	}
}

// TestKeyFileModes: which modes readKeyFile accepts, and which draw the one
// warning that the file's group may read it.
func TestKeyFileModes(t *testing.T) {
	dir := t.TempDir()
	_, key := makeKeyFile(t, dir, "source.key")
	tests := []struct {
		perm os.FileMode
		goos string
		err  string // "": accepted
		warn bool
	}{
		{0o600, "linux", "", false},
		{0o400, "linux", "", false},
		{0o440, "linux", "", true},
		{0o640, "linux", "", true},
		{0o620, "linux", "", true},
		{0o660, "linux", "", true},
		{0o644, "linux", "mode 0644 lets every user read it; chmod 600 it", false},
		{0o604, "linux", "mode 0604 lets every user read it", false},
		{0o606, "linux", "mode 0606 lets every user read it", false},
		{0o602, "linux", "mode 0602 lets every user change it; chmod 600 it", false},
		{0o666, "darwin", "mode 0666 lets every user read it", false},
		{0o644, "windows", "", false},
		{0o666, "windows", "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o on %s", tt.perm, tt.goos), func(t *testing.T) {
			if runtime.GOOS == "windows" {
				t.Skip("Windows has no such modes to set")
			}
			path := filepath.Join(t.TempDir(), "master.key")
			writeFile(t, path, hex.EncodeToString(key)+"\n", tt.perm)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			got, err := readKeyFile("--master-key-file", path, tt.goos, log)
			if tt.err == "" {
				if err != nil || !bytes.Equal(got, key) {
					t.Errorf("readKeyFile = %x, %v; want the key", got, err)
				}
			} else if err == nil || !strings.HasPrefix(err.Error(), "--master-key-file "+path+": "+tt.err) {
				t.Errorf("readKeyFile error %v; want %q", err, tt.err)
			}
			warnings := strings.Count(logs.String(), "level=WARN")
			wantWarn := 0
			if tt.warn {
				wantWarn = 1
				want := fmt.Sprintf("file=%s mode=%04o", path, tt.perm)
				if !strings.Contains(logs.String(), want) {
					t.Errorf("the warning does not say %q:\n%s", want, logs.String())
				}
			}
			if warnings != wantWarn || strings.Count(logs.String(), "\n") != wantWarn {
				t.Errorf("%d warnings (log %q), want %d and nothing else", warnings, logs.String(), wantWarn)
			}
			assertNoKey(t, "the log", logs.String(), key)
		})
	}
}

// TestKeyFilesShareRecords: two boxes made from one key file open each
// other's records; after a rotation (new key file, old one as
// --old-master-key-file) records sealed under the old key still open, and
// new ones are sealed under the new key.
func TestKeyFilesShareRecords(t *testing.T) {
	dir := t.TempDir()
	oldFile, _ := makeKeyFile(t, dir, "old.key")
	newFile, _ := makeKeyFile(t, dir, "new.key")
	log := slog.New(slog.DiscardHandler)
	box := func(current, old string) *crypto.Box {
		t.Helper()
		b, err := newBox(options{masterKeyFile: current, oldMasterKeyFile: old}, runtime.GOOS, log)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	open := func(b *crypto.Box, record []byte) string {
		pt, err := b.Open("lobby", record, []byte("seq=1"))
		if err != nil {
			return err.Error()
		}
		return string(pt)
	}
	seal := func(b *crypto.Box, text string) []byte {
		t.Helper()
		r, err := b.Seal("lobby", []byte(text), []byte("seq=1"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	one, two := box(oldFile, ""), box(oldFile, "")
	if got := open(two, seal(one, "from one")); got != "from one" {
		t.Errorf("box two opens box one's record as %q", got)
	}
	if got := open(one, seal(two, "from two")); got != "from two" {
		t.Errorf("box one opens box two's record as %q", got)
	}

	underOld := seal(one, "before the rotation")
	rotated := box(newFile, oldFile)
	newOnly := box(newFile, "")
	underNew := seal(rotated, "after the rotation")
	refused := crypto.ErrOpen.Error()
	got := map[string]string{
		"rotated opens old":  open(rotated, underOld),
		"rotated opens new":  open(rotated, underNew),
		"new only opens new": open(newOnly, underNew),
		"new only opens old": open(newOnly, underOld),
		"old only opens new": open(one, underNew),
	}
	want := map[string]string{
		"rotated opens old":  "before the rotation",
		"rotated opens new":  "after the rotation",
		"new only opens new": "after the rotation",
		"new only opens old": refused,
		"old only opens new": refused,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("opening across the rotation (-want +got):\n%s", diff)
	}
}

// serveWith runs Cloakroom with args and getenv and returns its base URL,
// everything it writes to stdout and stderr, and its stop function (see
// startRun).
func serveWith(t *testing.T, getenv func(string) string, args ...string) (base string, out fmt.Stringer, stop func() error) {
	t.Helper()
	st := startRun(t, startSpec{flags: args, getenv: getenv})
	return st.base, both{st.stdout, st.stderr}, st.stop
}

// both is what was written to two buffers.
type both [2]*logBuffer

func (b both) String() string { return b[0].String() + b[1].String() }

// postAndRead joins room as a bot, posts text, and returns the texts of the
// room's kept messages, which the server opened from its sealed history.
func postAndRead(t *testing.T, base, room, text string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/join", strings.NewReader(url.Values{"room": {room}, "username": {"keeper"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var joined struct{ Token string }
	doJSON(t, req, http.StatusCreated, &joined)

	req, _ = http.NewRequest(http.MethodPost, base+"/rooms/"+room+"/messages", strings.NewReader(url.Values{"text": {text}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+joined.Token)
	doJSON(t, req, http.StatusCreated, nil)

	req, _ = http.NewRequest(http.MethodGet, base+"/rooms/"+room+"/messages", nil)
	req.Header.Set("Accept", "application/json")
	var page struct {
		Events []struct {
			Type string
			Text string
		}
	}
	doJSON(t, req, http.StatusOK, &page)
	var texts []string
	for _, e := range page.Events {
		if e.Type == "message" {
			texts = append(texts, e.Text)
		}
	}
	return texts
}

// doJSON sends req, checks the status and decodes the JSON answer into v
// (unless v is nil).
func doJSON(t *testing.T, req *http.Request, status int, v any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %s %s; want %d", req.Method, req.URL.Path, resp.Status, body, status)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s %s: %v in %s", req.Method, req.URL.Path, err, body)
		}
	}
}

// TestKeyFileNeverLogged runs the server from a key file and an old key
// file at log level debug, seals and opens a message, and checks that
// neither key shows in anything it printed, while its key id does.
func TestKeyFileNeverLogged(t *testing.T) {
	dir := t.TempDir()
	newFile, newKey := makeKeyFile(t, dir, "new.key")
	oldFile, oldKey := makeKeyFile(t, dir, "old.key")
	if err := os.Chmod(oldFile, 0o440); err != nil { // draws the group warning
		t.Fatal(err)
	}
	env := map[string]string{"CLOAKROOM_OLD_MASTER_KEY_FILE": oldFile}
	base, out, stop := serveWith(t, func(k string) string { return env[k] },
		"--log-level", "debug", "--master-key-file", newFile)
	if got := postAndRead(t, base, "vault", "sealed and opened"); !cmp.Equal(got, []string{"sealed and opened"}) {
		t.Errorf("the room keeps %q", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	logs := out.String()
	box, err := crypto.NewBox(newKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`msg="master key from file" file=` + newFile + " key_id=" + box.KeyID() + " old_file=" + oldFile,
		"flag=--old-master-key-file file=" + oldFile + " mode=0440",
		"path=/rooms/vault/messages status=201", // the post was logged
	} {
		if strings.Count(logs, want) != 1 {
			t.Errorf("the log does not say %q once:\n%s", want, logs)
		}
	}
	assertNoKey(t, "the server's output", logs, newKey, oldKey)
}
