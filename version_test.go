package main

import (
	"bytes"
	"io"
	"net"
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

// --help succeeds and lists every flag with its environment name and, where
// it has one, its default.
func TestRunHelp(t *testing.T) {
	var out, errs bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, func(string) string { return "" }, &out, &errs); err != nil {
		t.Fatalf("--help: %v", err)
	}
	help := out.String()
	if errs.Len() > 0 {
		t.Errorf("--help wrote to stderr: %q", errs.String())
	}
	for _, cmd := range []string{"tail", "say", "keygen", "version"} {
		if !strings.Contains(help, "cloakroom "+cmd+" ") {
			t.Errorf("--help does not name the command %q", cmd)
		}
	}
	for _, name := range []string{"addr", "history", "log-level", "client-streams", "trusted-proxies", "shutdown-drain"} {
		if !strings.Contains(help, "  -"+name+" ") && !strings.Contains(help, "  -"+name+"\n") {
			t.Errorf("--help does not list -%s", name)
		}
	}
	// Each flag's entry names its environment variable.
	entries := strings.Split(help, "\n  -")[1:]
	if len(entries) < 15 {
		t.Fatalf("--help lists %d flags:\n%s", len(entries), help)
	}
	for _, e := range entries {
		name := strings.Fields(e)[0]
		if want := "(env " + envName(name) + ")"; !strings.Contains(e, want) {
			t.Errorf("-%s's help lacks %s: %q", name, want, e)
		}
	}
	if !strings.Contains(help, `(default "localhost:5000")`) {
		t.Errorf("--help does not give -addr's default:\n%s", help)
	}
}

// A bad flag gets its error and a pointer to --help, not the whole usage;
// "help" is --help.
func TestRunBadFlagAndHelpCommand(t *testing.T) {
	var out, errs bytes.Buffer
	err := run(t.Context(), []string{"--no-such-flag"}, func(string) string { return "" }, &out, &errs)
	if err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	if got := errs.String(); !strings.Contains(got, "no-such-flag") || !strings.Contains(got, "--help") || strings.Contains(got, "-addr") {
		t.Errorf("stderr for a bad flag: %q", got)
	}
	out.Reset()
	if err := run(t.Context(), []string{"help"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("help: %v", err)
	}
	if !strings.Contains(out.String(), "-addr") {
		t.Errorf("help printed %q", out.String())
	}
}

// An address that cannot be listened on is an error naming its flag: with
// --addr, --http-addr and --metrics-addr, "address already in use" alone
// does not say which.
func TestListenErrorNamesTheFlag(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, flag := range []string{"--addr", "--metrics-addr"} {
		t.Run(flag, func(t *testing.T) {
			args := []string{"--addr", "127.0.0.1:0", flag, addr}
			err := run(t.Context(), args, func(string) string { return "" }, io.Discard, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), flag+" "+addr+": ") || !strings.Contains(err.Error(), "address already in use") {
				t.Errorf("%s on a taken address: %v", flag, err)
			}
		})
	}
}
