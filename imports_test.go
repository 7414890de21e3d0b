package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The packages depend on each other only as docs/STYLE says: the domain knows
// nothing of HTTP or HTML, crypto and static know nothing of ours.
// views may also read static's asset names, a leaf with no imports of ours.
func TestImportRules(t *testing.T) {
	const mod = "github.com/cloakroom/cloakroom"
	allowed := map[string][]string{
		mod:                       {"handlers", "chat", "crypto", "static", "client", "limits", "metrics", "natslog", "natsstate"},
		mod + "/client":           {},
		mod + "/cmd/cloakload":    {},
		mod + "/handlers":         {"chat", "views", "static", "fanout", "limits"},
		mod + "/fanout":           {},
		mod + "/limits":           {},
		mod + "/metrics":          {"chat", "crypto", "fanout", "limits", "natslog", "natsstate"},
		mod + "/views":            {"chat", "static"},
		mod + "/chat":             {"crypto"},
		mod + "/chat/chattest":    {"chat", "crypto"},
		mod + "/natslog":          {"chat"},
		mod + "/natsstate":        {"chat", "natslog"},
		mod + "/natslog/natstest": {},
		mod + "/crypto":           {},
		mod + "/static":           {},
	}
	forbidden := map[string][]string{
		mod + "/chat":          {"net/http", "github.com/labstack/echo/v4", "github.com/a-h/templ", "github.com/prometheus/"},
		mod + "/chat/chattest": {"net/http", "github.com/labstack/echo/v4", "github.com/a-h/templ"},
		mod + "/crypto":        {"github.com/", "golang.org/"},
		// Frames in, bytes out: the fan-out knows no HTTP and no chat.
		mod + "/fanout": {"net/http", "github.com/labstack/echo/v4", "github.com/a-h/templ", "github.com/prometheus/"},
		// Addresses and counts in, waits out: the limits know no HTTP.
		mod + "/limits": {"net/http", "github.com/labstack/echo/v4", "github.com/a-h/templ", "github.com/prometheus/"},
		// Prometheus is the metrics package's alone: the others keep counts
		// and the metrics read them.
		mod + "/handlers": {"github.com/prometheus/"},
		// The shipped binary carries the NATS client, never a NATS server
		// (the tests embed one).
		mod + "/natslog":   {"github.com/nats-io/nats-server", "github.com/labstack/echo/v4", "github.com/a-h/templ"},
		mod + "/natsstate": {"github.com/nats-io/nats-server", "github.com/labstack/echo/v4", "github.com/a-h/templ"},
		// Nor does the binary itself: natstest is for tests only.
		mod: {"github.com/nats-io/nats-server"},
		// The client speaks to a server only over HTTP.
		mod + "/client": {"github.com/labstack/echo/v4", "github.com/a-h/templ"},
		// So does the load tool, which measures other servers too.
		mod + "/cmd/cloakload": {"github.com/labstack/echo/v4", "github.com/a-h/templ"},
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		pkg, rest, _ := strings.Cut(strings.TrimSpace(line), "|")
		imports, deps, _ := strings.Cut(rest, "|")
		rules, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s has no import rule", pkg)
			continue
		}
		seen++
		for _, imp := range strings.Fields(imports) {
			if name, ours := strings.CutPrefix(imp, mod+"/"); ours && !slices.Contains(rules, name) {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
		for _, dep := range strings.Fields(deps) {
			for _, bad := range forbidden[pkg] {
				if strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("checked %d packages, want %d", seen, len(allowed))
	}
}
