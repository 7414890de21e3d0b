package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// builtBinary builds the cloakroom binary once per test process, as a user
// of a checkout would (go build, the VCS stamped into it), and returns its
// path. It builds with -race: the test binary was built so, so the compiled
// packages come from the build cache instead of being compiled again.
var builtBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "cloakroom-bin-")
	if err != nil {
		return "", err
	}
	binaryDir = dir
	bin := filepath.Join(dir, "cloakroom")
	out, err := exec.Command("go", "build", "-race", "-buildvcs=true", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{err: err, out: string(out)}
	}
	return bin, nil
})

// binaryDir holds the built binary, if any; TestMain removes it.
var binaryDir string

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// binary returns the built binary, failing t if it could not be built.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := builtBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// A binary built from a checkout names the checkout's commit in --version.
func TestBuiltBinaryReportsItsRevision(t *testing.T) {
	dirs, err := exec.Command("git", "rev-parse", "HEAD", "--git-dir", "--git-common-dir").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): the VCS revision cannot be stamped", err)
	}
	rev := strings.Fields(string(dirs))
	if len(rev) != 3 {
		t.Fatalf("git rev-parse printed %q", dirs)
	}
	if rev[1] != rev[2] {
		// go build stamps nothing in a linked worktree (golang/go#58218).
		t.Skip("a linked git worktree: go build does not stamp the VCS revision there")
	}
	out, err := exec.Command(binary(t), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 4 || fields[0] != "cloakroom" || !strings.HasPrefix(fields[len(fields)-1], "go1.") {
		t.Fatalf("--version printed %q", out)
	}
	if want := rev[0][:12]; fields[2] != want {
		t.Errorf("--version printed %q; want revision %s", out, want)
	}
}
