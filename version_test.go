package main

import (
	"bytes"
	"io"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"a release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0fcfdcf3e2a1b2c3d4e5"}, {Key: "vcs.modified", Value: "false"}}},
			true, "cloakroom v1.2.3 0fcfdcf3e2a1 go1.26.8"},
		{"a modified checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			true, "cloakroom (devel) abc modified go1.26.8"},
		{"no VCS", &debug.BuildInfo{GoVersion: "go1.26.8"}, true, "cloakroom (unknown) go1.26.8"},
		{"no build info", nil, false, "cloakroom: no build information in this binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionLine(tt.bi, tt.ok); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// `cloakroom --version` prints one line about the build and serves nothing.
func TestRunVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--version"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if line := out.String(); !strings.HasPrefix(line, "cloakroom ") || strings.Count(line, "\n") != 1 || !strings.Contains(line, "go1.") {
		t.Errorf("--version printed %q", line)
	}
}
