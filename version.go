package main

import (
	"runtime/debug"
	"strings"
)

// versionLine describes a build from its build info: the module's version
// (v1.2.3 for a release, "(devel)" from a checkout), the VCS revision and
// whether the tree was modified, and the Go version, e.g.
// "cloakroom (devel) 0fcfdcf3e2a1 modified go1.26.8".
func versionLine(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "cloakroom: no build information in this binary"
	}
	parts := []string{"cloakroom", bi.Main.Version}
	if parts[1] == "" {
		parts[1] = "(unknown)"
	}
	var revision string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision != "" {
		parts = append(parts, revision[:min(len(revision), 12)])
		if modified {
			parts = append(parts, "modified")
		}
	}
	return strings.Join(append(parts, bi.GoVersion), " ")
}
