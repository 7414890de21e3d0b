//go:build linux

package main

import (
	endian "encoding/binary" // binary_test.go has a func binary
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// readmeUnit returns the systemd unit that README.md shows between its
// systemd-unit markers, without the code fence around it.
func readmeUnit(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- systemd-unit:begin -->\n```ini\n")
	unit, _, ok2 := strings.Cut(rest, "```\n<!-- systemd-unit:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```ini block between <!-- systemd-unit:begin --> and <!-- systemd-unit:end -->")
	}
	return unit
}

// unitSettings returns the settings of one section of a unit file, each
// name with its values in order. Comments and blank lines are skipped; the
// README's unit has no line continuations or quoting.
func unitSettings(unit, section string) map[string][]string {
	settings := map[string][]string{}
	in := false
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			in = line == "["+section+"]"
		case in:
			name, value, _ := strings.Cut(line, "=")
			settings[name] = append(settings[name], value)
		}
	}
	return settings
}

// The ids of a POSIX ACL entry's tag, as Linux stores them in the
// system.posix_acl_access attribute (include/uapi/linux/posix_acl.h), and
// the id of entries that name no user or group.
const (
	aclUserObj   = 0x01
	aclUser      = 0x02
	aclGroupObj  = 0x04
	aclMask      = 0x10
	aclOther     = 0x20
	aclUndefined = 0xffffffff
	aclRead      = 4
)

// loadCredential copies the key file src into dir/name the way systemd's
// LoadCredential= does (write_credential in src/core/exec-credential.c):
// a new file written with mode 0600, then chmod 0400, and, when acl is set,
// an ACL entry that lets the service's user read it, which systemd adds for
// a DynamicUser= service (the manager runs as root, the service does not).
// The ACL's mask shows as the group bits: mode 0440.
func loadCredential(t *testing.T, src, dir, name string, acl bool) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o400); err != nil {
		t.Fatal(err)
	}
	if acl {
		const dynamicUID = 61184                         // the first uid systemd hands to a DynamicUser=
		attr := endian.LittleEndian.AppendUint32(nil, 2) // POSIX_ACL_XATTR_VERSION
		for _, e := range []struct {
			tag, perm uint16
			id        uint32
		}{
			{aclUserObj, aclRead, aclUndefined},
			{aclUser, aclRead, dynamicUID},
			{aclGroupObj, 0, aclUndefined},
			{aclMask, aclRead, aclUndefined},
			{aclOther, 0, aclUndefined},
		} {
			attr = endian.LittleEndian.AppendUint16(attr, e.tag)
			attr = endian.LittleEndian.AppendUint16(attr, e.perm)
			attr = endian.LittleEndian.AppendUint32(attr, e.id)
		}
		if err := unix.Fsetxattr(int(f.Fd()), "system.posix_acl_access", attr, 0); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) {
				t.Skipf("%s: this file system has no POSIX ACLs, so systemd would chown the 0400 file instead", dir)
			}
			t.Fatalf("set the ACL: %v", err)
		}
	}
	return path
}

// TestSystemdUnit tries the README's systemd unit against the key file
// rules: its ExecStart= reads the key from the credential its
// LoadCredential= names, and the server accepts that credential as systemd
// makes it, silently at mode 0400 and with one warning at 0440 (an ACL).
// With systemd-analyze installed, it also checks every directive is one
// systemd knows.
func TestSystemdUnit(t *testing.T) {
	unit := readmeUnit(t)
	svc := unitSettings(unit, "Service")
	for name, want := range map[string]string{
		"DynamicUser":     "yes",
		"EnvironmentFile": "/etc/cloakroom/env",
		"LoadCredential":  "master-key:/etc/cloakroom/master.key",
	} {
		if diff := cmp.Diff([]string{want}, svc[name]); diff != "" {
			t.Errorf("%s= in the unit (-want +got):\n%s", name, diff)
		}
	}
	if len(svc["ExecStart"]) != 1 || len(svc["LoadCredential"]) != 1 {
		t.Fatalf("the unit has %d ExecStart= and %d LoadCredential=, want one each", len(svc["ExecStart"]), len(svc["LoadCredential"]))
	}
	credName, credSource, _ := strings.Cut(svc["LoadCredential"][0], ":")
	execStart := strings.Fields(svc["ExecStart"][0])
	i := slices.Index(execStart, "--master-key-file")
	if i < 0 || i+1 >= len(execStart) || execStart[i+1] != "${CREDENTIALS_DIRECTORY}/"+credName {
		t.Fatalf("ExecStart=%s does not pass --master-key-file ${CREDENTIALS_DIRECTORY}/%s", svc["ExecStart"][0], credName)
	}

	// The key as the operator makes it, standing in for /etc/cloakroom/master.key.
	keyFile, key := makeKeyFile(t, t.TempDir(), filepath.Base(credSource))

	tests := []struct {
		name string
		acl  bool
		mode os.FileMode
		warn bool
	}{
		{"owned by the service's user", false, 0o400, false},
		{"read through an ACL", true, 0o440, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			credDir := filepath.Join(t.TempDir(), "credentials", "cloakroom.service")
			if err := os.MkdirAll(credDir, 0o700); err != nil {
				t.Fatal(err)
			}
			cred := loadCredential(t, keyFile, credDir, credName, tt.acl)
			if st, err := os.Stat(cred); err != nil || st.Mode() != tt.mode {
				t.Fatalf("the credential's mode is %v, %v; want %v", st.Mode(), err, tt.mode)
			}
			// systemd expands ${CREDENTIALS_DIRECTORY} in ExecStart= itself.
			args := make([]string, 0, len(execStart)-1)
			for _, a := range execStart[1:] {
				args = append(args, os.Expand(a, func(v string) string {
					return map[string]string{"CREDENTIALS_DIRECTORY": credDir}[v]
				}))
			}
			base, out, stop := serveWith(t, noEnv, args...)
			resp, err := http.Get(base + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/healthz: %s", resp.Status)
			}
			if err := stop(); err != nil {
				t.Fatalf("run returned %v", err)
			}
			logs := out.String()
			wantWarnings := 0
			if tt.warn {
				wantWarnings = 1
			}
			if got := strings.Count(logs, "level=WARN"); got != wantWarnings {
				t.Errorf("%d warnings, want %d:\n%s", got, wantWarnings, logs)
			}
			if tt.warn && !strings.Contains(logs, "file="+cred+" mode=0440") {
				t.Errorf("the warning does not name %s and mode 0440:\n%s", cred, logs)
			}
			if !strings.Contains(logs, `msg="master key from file" file=`+cred) {
				t.Errorf("the log does not say the key came from %s:\n%s", cred, logs)
			}
			assertNoKey(t, "the server's output", logs, key)
		})
	}

	t.Run("systemd-analyze verify", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze is not installed")
		}
		// verify also wants ExecStart='s program to exist: this test binary
		// stands in for it.
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(unit, "ExecStart="+execStart[0]+" ", "ExecStart="+self+" ", 1)
		// The unit as given, and with every commented-out directive (the
		// TLS, ACME and port-443 lines the README says to uncomment) in.
		commented := regexp.MustCompile(`(?m)^# ([A-Z][A-Za-z]+=)`)
		for name, text := range map[string]string{"as given": text, "uncommented": commented.ReplaceAllString(text, "$1")} {
			path := filepath.Join(t.TempDir(), "cloakroom.service")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", path).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify, %s: %v\n%s", name, err, out)
			}
		}
	})
}
