package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"
)

// axe-core (testdata/axe, see its VERSIONS) checks the pages against WCAG
// and accessibility best practice in a real browser. Cloakroom never serves
// it; the tests inject it into the page.
const axeDir = "testdata/axe"

// axeSource returns the vendored axe.min.js after checking every file that
// testdata/axe/VERSIONS lists against its hashes, so that what the tests run
// is what the note says it is.
func axeSource(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(axeDir, "VERSIONS"))
	if err != nil {
		t.Fatal(err)
	}
	var src string
	blocks := 0
	for _, block := range versionBlocks(t, data) {
		blocks++
		name := block["file"]
		body, err := os.ReadFile(filepath.Join(axeDir, name))
		if err != nil {
			t.Fatalf("%s is listed in VERSIONS: %v", name, err)
		}
		sum256 := sha256.Sum256(body)
		sum384 := sha512.Sum384(body)
		if got := hex.EncodeToString(sum256[:]); got != block["sha256"] {
			t.Fatalf("%s: sha256 %s, VERSIONS says %s", name, got, block["sha256"])
		}
		if got := base64.StdEncoding.EncodeToString(sum384[:]); got != block["sha384"] {
			t.Fatalf("%s: sha384 %s, VERSIONS says %s", name, got, block["sha384"])
		}
		if name == "axe.min.js" {
			src = string(body)
		}
	}
	if src == "" || blocks < 2 {
		t.Fatalf("%s/VERSIONS lists %d files and no axe.min.js", axeDir, blocks)
	}
	return src
}

// versionBlocks reads a VERSIONS file: blocks of "key: value" lines
// separated by blank lines; '#' lines are comments.
func versionBlocks(t *testing.T, data []byte) []map[string]string {
	t.Helper()
	var out []map[string]string
	var cur map[string]string
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
		if cur == nil {
			cur = map[string]string{}
			out = append(out, cur)
		}
		cur[strings.TrimSpace(key)] = strings.TrimSpace(val)
	}
	for _, b := range out {
		for _, k := range []string{"file", "package", "path", "sha384", "sha256", "license"} {
			if b[k] == "" {
				t.Fatalf("VERSIONS: a block has no %q: %v", k, b)
			}
		}
	}
	return out
}

func TestAxeIsVendoredAsNoted(t *testing.T) {
	if src := axeSource(t); !strings.HasPrefix(src, "/*! axe v4.14.1") {
		t.Errorf("axe.min.js starts with %.40q, want the axe 4.14.1 banner", src)
	}
}

// axeViolation is one rule that failed, with the elements it failed on.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v axeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %d elements): %s", v.ID, v.Impact, len(v.Nodes), v.Help)
	for i, n := range v.Nodes {
		if i == 3 {
			fmt.Fprintf(&b, "\n\t\t… and %d more", len(v.Nodes)-i)
			break
		}
		fmt.Fprintf(&b, "\n\t\t%v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
	}
	return b.String()
}

// bypassCSP lets the test inject axe into pages whose policy forbids it. It
// must be set before the page loads; only the accessibility tests use it.
func (tb *tab) bypassCSP() {
	tb.b.t.Helper()
	if _, err := chromedp.Call(tb.ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
		tb.fatalf("%s: bypass the page's CSP: %v", tb.name, err)
	}
}

// axe runs every axe-core rule on the page as it is and returns the
// violations. It fails the test if axe found nothing to pass either: then
// it did not look at the page.
func (tb *tab) axe(src string) []axeViolation {
	tb.b.t.Helper()
	if !eval[bool](tb, `typeof window.axe === 'object'`) {
		eval[bool](tb, src+"\n;true")
	}
	r, err := chromedp.Run(tb.ctx, chromedp.Evaluate[struct {
		Passes     int            `json:"passes"`
		Violations []axeViolation `json:"violations"`
	}](`axe.run(document).then((r) => ({passes: r.passes.length, violations: r.violations}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fatalf("%s: run axe: %v", tb.name, err)
	}
	if r.Passes == 0 {
		tb.fatalf("%s: axe passed no rule on %s", tb.name, tb.location())
	}
	return r.Violations
}

// A look is one way a person sees the page: a colour scheme and a screen.
type look struct {
	name   string
	dark   bool
	width  int64
	height int64
	phone  bool
}

var looks = []look{
	{"light desktop", false, 1280, 800, false},
	{"dark desktop", true, 1280, 800, false},
	{"light phone", false, 390, 844, true},
	{"dark phone", true, 390, 844, true},
}

// wear makes the tab look as l says.
func (tb *tab) wear(l look) {
	tb.b.t.Helper()
	scheme := "light"
	if l.dark {
		scheme = "dark"
	}
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		tb.fatalf("%s: emulate %s: %v", tb.name, scheme, err)
	}
	var opts []chromedp.EmulateViewportOption
	if l.phone {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(3))
	}
	tb.do("set the viewport", chromedp.EmulateViewport(l.width, l.height, opts...))
	if got := eval[bool](tb, fmt.Sprintf(`matchMedia('(prefers-color-scheme: %s)').matches && innerWidth === %d`, scheme, l.width)); !got {
		tb.fatalf("%s: the page does not look %s", tb.name, l.name)
	}
	// Colours ease from one scheme to the other; a check made halfway
	// would judge colours nobody is meant to see.
	tb.waitFor("the page's transitions end", `document.getAnimations().every((a) => a.playState !== 'running' || a.effect.getComputedTiming().iterations === Infinity)`)
}

// TestBrowserAxe runs axe-core on the join page and on a room page with
// history, in light and dark, on a desktop and a phone: no rule may fail.
func TestBrowserAxe(t *testing.T) {
	src := axeSource(t)
	b := newBrowser(t, limitsOff...) // the filling posts fast
	fillRoomForReading(t, b.base, testRoom)

	tb := b.newTab(b.ctx, "reader", chromedp.WithNewBrowserContext())
	tb.bypassCSP()
	pages := []struct {
		name string
		open func()
	}{
		{"join page", func() {
			tb.do("open the front page", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.ID("username")))
		}},
		{"room page", func() {
			tb.join("reader", testRoom)
			tb.waitLive()
			tb.waitReadingStates()
			tb.waitFor("the link to older messages", `document.querySelector('#log > li.history-edge.older > a[href]')`)
		}},
		{"earlier messages page", func() {
			tb.do("open a page of earlier messages", chromedp.Navigate(b.base+"/rooms/"+testRoom+"/messages?limit=20"))
			tb.waitFor("its entries and links", `document.querySelectorAll('ol.log > li.msg').length > 10 && document.querySelector('a[rel="prev"]')`)
		}},
	}
	for _, p := range pages {
		p.open()
		for _, l := range looks {
			t.Run(p.name+"/"+l.name, func(t *testing.T) {
				tb.wear(l)
				if p.name == "room page" && l.phone && !eval[bool](tb, `(() => {
					const strip = document.querySelector('.members-pane');
					return strip.scrollWidth > strip.clientWidth;
				})()`) {
					t.Error("the member strip does not scroll on a phone; the check that it takes focus would prove nothing")
				}
				for _, v := range tb.axe(src) {
					t.Errorf("axe: %s", v)
				}
			})
		}
	}
}

// The keyboard reaches everything in the order it is read: the header (its
// Alerts switches, Leave, then the transcript links), the member list (which scrolls on its own,
// sideways on a phone), the log and the links and buttons in it, then the
// composer. The log's "Older messages" link is not a stop of its own: it
// would load a page each time it took the focus. Scrolling the log to its
// top with the keyboard loads them, in place, and the focus stays in the
// log.
func TestBrowserKeyboard(t *testing.T) {
	b := newBrowser(t, limitsOff...) // the filling posts fast
	fillRoomForReading(t, b.base, testRoom)
	tb := b.newTab(b.ctx, "reader", chromedp.WithNewBrowserContext())
	tb.join("reader", testRoom)
	room := tb.location().String()

	want := []string{
		"Alerts", "Leave", "Download transcript", "JSON", "members", "log",
		"https://example.com/notes", "https://example.com/agenda?day=1", "Show more",
		"composer", "Send",
	}
	for _, l := range []look{looks[0], looks[2]} {
		t.Run(l.name, func(t *testing.T) {
			tb.do("open the room", chromedp.Navigate(room))
			tb.wear(l)
			tb.waitLive()
			tb.waitReadingStates()
			// Tab from the top of the page, not from the composer that has
			// the focus when the page opens.
			eval[any](tb, `(() => {
				document.body.tabIndex = -1;
				document.body.focus();
				document.body.removeAttribute('tabindex');
			})()`)
			var got []string
			for range 2 * len(want) {
				tb.do("press Tab", chromedp.KeyEvent("\t"))
				name := eval[string](tb, `(() => {
					const el = document.activeElement;
					if (!el || el === document.body) return '';
					if (el.id === 'text') return 'composer';
					if (el.id === 'log') return 'log';
					if (el.matches('aside')) return 'members';
					return el.textContent.trim();
				})()`)
				if name == "" || (len(got) > 0 && name == got[0]) {
					break
				}
				got = append(got, name)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the order Tab visits (-want +got):\n%s", diff)
			}
		})
	}

	eval[any](tb, `document.getElementById('log').focus()`)
	tb.do("press Home in the log", chromedp.KeyEvent(kb.Home))
	tb.waitFor("the start of the history", `document.querySelector('#log > li.history-edge.start')`)
	if u := tb.location(); u.Path != "/rooms/"+testRoom {
		t.Errorf("older messages loaded at %s; they should load in place", u)
	}
	var got []string
	for _, e := range tb.events() {
		got = append(got, e.ID)
	}
	if diff := cmp.Diff(keptIDs(t, b.base, testRoom), got); diff != "" {
		t.Errorf("the log after loading older messages, against what the room keeps (-want +got):\n%s", diff)
	}
	if focus := eval[string](tb, `document.activeElement.id`); focus != "log" {
		t.Errorf("after loading older messages the focus is on #%s, want the log", focus)
	}
}
