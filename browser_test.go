package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// The browser tests drive the real program (run on a free port) with Debian's
// chromium, as a person would: through the join form, the composer and the
// Leave button, never through the HTTP API.

const (
	// browserTestTimeout bounds a whole browser test, so that a hang fails
	// the test instead of blocking CI.
	browserTestTimeout = 45 * time.Second
	// waitTimeout bounds one wait for something to show in a page. Every
	// change a test waits for takes milliseconds; this only decides how soon
	// a missing one is reported.
	waitTimeout = 10 * time.Second

	testRoom = "lobby"

	// insecureHost is a name the test browser resolves to 127.0.0.1; pages
	// from it are not a secure context (only localhost and https are).
	insecureHost = "cloakroom.test"
)

// chromiumPath finds Debian's chromium. Without it the test is skipped, except
// in CI, where a missing browser must not pass for a green run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("browser tests need Debian's chromium, and CI=true: install it (apt-get install chromium) before running the tests")
	}
	t.Skip("browser tests need Debian's chromium (apt-get install chromium); skipping")
	return ""
}

// browser is one chromium process for one test, the app it talks to, and
// the console errors of its tabs.
type browser struct {
	t    *testing.T
	ctx  context.Context // the browser's first context; tabs derive from it
	base string          // the app's base URL
	// stopApp stops the app before the test ends, and returns what run
	// returned; nil when the test started the app itself (newBrowserFor).
	stopApp func() error

	mu     sync.Mutex
	errors []string // error-level console messages, "tab: text"
}

// newBrowser starts the app (with any flags given) and a headless chromium
// for one test. Both stop when the test ends, the browser first.
func newBrowser(t *testing.T, flags ...string) *browser {
	t.Helper()
	chromiumPath(t)
	base, stopApp := startApp(t, flags...)
	b := newBrowserFor(t, base)
	b.stopApp = stopApp
	return b
}

// newBrowserFor starts a headless chromium for one test, to use the app at
// base, with any further flags given. It stops when the test ends.
func newBrowserFor(t *testing.T, base string, flags ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path := chromiumPath(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.DisableGPU,
		// This network refuses Chromium's own background connections.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// insecureHost reaches the app at an address that is not a secure
		// context, as a LAN server on plain http:// is.
		chromedp.Flag("host-resolver-rules", "MAP "+insecureHost+" 127.0.0.1"),
		chromedp.WindowSize(1280, 800),
	)
	opts = append(opts, flags...)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		if err := chromedp.Cancel(bctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing the browser: %v", err)
		}
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return &browser{t: t, ctx: bctx, base: base}
}

// tab is one page of the browser, named for the person using it.
type tab struct {
	b     *browser
	name  string
	base  string // where join goes: the app's base URL, unless a test changes it
	ctx   context.Context
	marks chan string // console.debug flush marks, in the order they arrive
	flush atomic.Int64
}

// newTab opens a tab in its own window: in a browser context of its own
// with chromedp.WithNewBrowserContext() (a separate cookie jar), or, with a
// tab's context as parent, in that tab's browser context (a shared jar).
func (b *browser) newTab(parent context.Context, name string, opts ...chromedp.ContextOption) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	b.t.Cleanup(cancel)
	// A headless window's page is smaller than the window; give every tab
	// the same desktop-sized page.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		b.t.Fatalf("open a tab for %s: %v", name, err)
	}
	tb := &tab{b: b, name: name, base: b.base, ctx: ctx, marks: make(chan string, 8)}
	tb.watchConsole()
	// Cleanups run last-in first-out: this check runs while the tab is
	// still open, also after a test failed part-way.
	b.t.Cleanup(tb.checkConsole)
	return tb
}

// watchConsole collects the tab's error-level console messages. A
// Content-Security-Policy violation is one, and the room page has a strict
// policy, so any of them is a bug.
func (tb *tab) watchConsole() {
	messages := chromedp.Console(tb.ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return // the tab is closed
			}
			switch {
			case m.Type == chromedp.ConsoleDebug && strings.HasPrefix(m.Text, flushMark):
				select {
				case tb.marks <- m.Text:
				case <-tb.ctx.Done():
					return
				}
			case m.Type == chromedp.ConsoleError || m.IsException():
				where := m.URL
				if where != "" {
					where = fmt.Sprintf(" (%s:%d)", where, m.Line+1)
				}
				tb.b.mu.Lock()
				tb.b.errors = append(tb.b.errors, fmt.Sprintf("%s: %s%s", tb.name, m, where))
				tb.b.mu.Unlock()
			}
		}
	}()
}

const flushMark = "cloakroom-test-flush "

// takeConsoleErrors returns the error-level console messages of all the
// browser's tabs that no check has taken yet. It first writes a mark to this
// tab's console and waits to read it back, so that every message the page
// wrote before now has been collected.
func (tb *tab) takeConsoleErrors() []string {
	if tb.ctx.Err() == nil {
		mark := fmt.Sprintf("%s%d", flushMark, tb.flush.Add(1))
		ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
		defer cancel()
		err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.debug(%s)", jsString(mark))))
	wait:
		for err == nil {
			select {
			case got := <-tb.marks:
				if got == mark {
					break wait
				}
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if err != nil {
			tb.b.t.Logf("%s: could not flush the console: %v", tb.name, err)
		}
	}
	tb.b.mu.Lock()
	defer tb.b.mu.Unlock()
	errs := tb.b.errors
	tb.b.errors = nil
	return errs
}

// checkConsole fails the test for each console error not yet reported.
func (tb *tab) checkConsole() {
	for _, e := range tb.takeConsoleErrors() {
		tb.b.t.Errorf("console error in %s", e)
	}
}

// do runs actions in the tab and fails the test if one fails.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the tab and decodes its value.
func eval[T any](tb *tab, expr string) T {
	tb.b.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.fatalf("%s: evaluate %s: %v", tb.name, expr, err)
	}
	return v
}

// waitFor waits until a JavaScript condition holds in the tab. It checks
// at once, after every change of the DOM, and every 50 ms for what the DOM
// does not show (a textarea's value), in a promise that the page evaluates
// as it is: chromedp.Poll would compile the condition with new Function,
// which the page's Content-Security-Policy forbids.
func (tb *tab) waitFor(what, cond string) {
	tb.b.t.Helper()
	tb.waitForWithin(waitTimeout, what, cond)
}

// waitForWithin is waitFor for a change that may take longer than
// waitTimeout, such as one the server makes after a grace period.
func (tb *tab) waitForWithin(timeout time.Duration, what, cond string) {
	tb.b.t.Helper()
	expr := `new Promise((resolve) => {
		const holds = () => { try { return !!(` + cond + `); } catch (e) { return false; } };
		if (holds()) { resolve(true); return; }
		const check = () => {
			if (!holds()) return;
			watch.disconnect();
			clearInterval(tick);
			resolve(true);
		};
		const watch = new MutationObserver(check);
		watch.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
		const tick = setInterval(check, 50);
	})`
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise)); err != nil {
		tb.fatalf("%s: waiting until %s: %v", tb.name, what, err)
	}
}

// fatalf saves what the tab shows (its HTML and a screenshot, under the
// temporary directory) and fails the test.
func (tb *tab) fatalf(format string, args ...any) {
	t := tb.b.t
	t.Helper()
	if tb.ctx.Err() == nil {
		dir := filepath.Join(os.TempDir(), "cloakroom-browser-tests")
		base := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+tb.name)
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		defer cancel()
		html, herr := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.JSPath("document.documentElement")))
		png, perr := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err := os.MkdirAll(dir, 0o755); err == nil {
			if herr == nil && os.WriteFile(base+".html", []byte(html), 0o644) == nil {
				t.Logf("%s's page is in %s.html", tb.name, base)
			}
			if perr == nil && os.WriteFile(base+".png", png, 0o644) == nil {
				t.Logf("%s's screenshot is in %s.png", tb.name, base)
			}
		}
	}
	t.Fatalf(format, args...)
}

// join opens the front page and joins a room through its form, and returns
// the member id the room page was given (its ?m=).
func (tb *tab) join(name, room string) string {
	tb.b.t.Helper()
	tb.do("open the front page",
		chromedp.Navigate(tb.base+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), name),
		chromedp.SendKeys(chromedp.ID("room"), room),
	)
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(`.join-form button[type="submit"]`)))
	if err != nil {
		tb.fatalf("%s: submit the join form: %v", tb.name, err)
	}
	if resp.Status != 200 {
		tb.fatalf("%s: joining %s gave %d %s, want 200", tb.name, room, resp.Status, resp.StatusText)
	}
	u := tb.location()
	if u.Path != "/rooms/"+room {
		tb.fatalf("%s: after joining, the page is %s, want /rooms/%s", tb.name, u, room)
	}
	m := u.Query().Get("m")
	if m == "" {
		tb.fatalf("%s: the room page %s names no member (?m=)", tb.name, u)
	}
	tb.do("see the room page", chromedp.WaitVisible(chromedp.ID("composer")))
	return m
}

func (tb *tab) location() *url.URL {
	tb.b.t.Helper()
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		tb.fatalf("%s: read the location: %v", tb.name, err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		tb.fatalf("%s: location %q: %v", tb.name, loc, err)
	}
	return u
}

// compose types a message into the composer, one line after another with
// Shift+Enter between them, and checks what the textarea holds.
func (tb *tab) compose(lines ...string) {
	tb.b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i, line := range lines {
		if i > 0 {
			steps = append(steps, chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)))
		}
		steps = append(steps, chromedp.SendKeys(chromedp.ID("text"), line))
	}
	tb.do("type a message", steps...)
	got, err := chromedp.Run(tb.ctx, chromedp.Value(chromedp.ID("text")))
	if err != nil {
		tb.fatalf("%s: read the composer: %v", tb.name, err)
	}
	if want := strings.Join(lines, "\n"); got != want {
		tb.fatalf("%s: the composer holds %q after typing, want %q", tb.name, got, want)
	}
}

// say types a message and sends it with the Send button, then waits until
// the composer is empty again, ready for the next one.
func (tb *tab) say(lines ...string) {
	tb.b.t.Helper()
	tb.compose(lines...)
	tb.do("click Send", chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))
	tb.waitFor("the composer is cleared after sending", `document.getElementById('text').value === ''`)
}

// sayWithEnter types a message and sends it by pressing Enter in the
// composer, then waits until the composer is empty again.
func (tb *tab) sayWithEnter(lines ...string) {
	tb.b.t.Helper()
	tb.compose(lines...)
	// A real Enter whose keydown the page cancels inserts nothing; a
	// KeyEvent("\r") would send a separate char event that still would.
	enter := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	tb.do("press Enter", chromedp.Focus(chromedp.ID("text")), enter)
	tb.waitFor("the composer is cleared after sending", `document.getElementById('text').value === ''`)
}

// waitLive waits until the page says its event stream is live.
func (tb *tab) waitLive() {
	tb.b.t.Helper()
	tb.waitFor("the connection status is live", `document.getElementById('conn').dataset.state === 'live'`)
}

// entry is one item of a room's log, as the page shows it.
type entry struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`   // msg, join or leave
	Author string `json:"author"` // the .author's text
	Text   string `json:"text"`   // the .text's text for a message, else the whole item's
	Own    bool   `json:"own"`    // class own
	// Markup lists the elements inside a message's .text other than the
	// links that the server makes of URLs.
	Markup []string `json:"markup"`
}

const logEntriesJS = `[...document.querySelectorAll('#log > li')].map((li) => {
	const kind = li.classList.contains('msg') ? 'msg' : li.classList.contains('join') ? 'join' : li.classList.contains('leave') ? 'leave' : li.className;
	const author = li.querySelector('.author');
	const text = li.querySelector('.text');
	return {
		id: li.id,
		kind,
		author: author ? author.textContent : '',
		text: kind === 'msg' ? (text ? text.textContent : '') : li.textContent.replace(/\s+/g, ' ').trim(),
		own: li.classList.contains('own'),
		markup: text ? [...text.querySelectorAll('*')].filter((e) => e.localName !== 'a').map((e) => e.localName) : [],
	};
})`

// entries reads the room's log.
func (tb *tab) entries() []entry {
	tb.b.t.Helper()
	return eval[[]entry](tb, logEntriesJS)
}

// waitForMessage waits until a message with this exact text is in the log,
// and returns it.
func (tb *tab) waitForMessage(text string) entry {
	tb.b.t.Helper()
	tb.waitFor("a message "+jsString(text)+" is in the log",
		fmt.Sprintf(`%s.some((e) => e.kind === 'msg' && e.text === %s)`, logEntriesJS, jsString(text)))
	var found []entry
	es := tb.entries()
	for _, e := range es {
		if e.Kind == "msg" && e.Text == text {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		tb.fatalf("%s: the log shows the message %q %d times, want once:%s", tb.name, text, len(found), entriesString(es))
	}
	return found[0]
}

// member is one item of a room's member list.
type member struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Online bool   `json:"online"`
	Me     bool   `json:"me"`
}

const membersJS = `[...document.querySelectorAll('#members li.member')].map((li) => ({
	id: li.dataset.member || '',
	name: (li.querySelector('.name') || {}).textContent || '',
	online: li.classList.contains('online'),
	me: li.classList.contains('me'),
}))`

func (tb *tab) members() []member {
	tb.b.t.Helper()
	return eval[[]member](tb, membersJS)
}

// waitForMembers waits until the member list names exactly these people, in
// any order.
func (tb *tab) waitForMembers(names ...string) []member {
	tb.b.t.Helper()
	tb.waitFor(fmt.Sprintf("the member list is %q", names), fmt.Sprintf(`((want) => {
		const got = %s.map((m) => m.name);
		return got.length === want.length && want.every((n) => got.includes(n));
	})(%s)`, membersJS, jsValue(names)))
	return tb.members()
}

// markPage sets a flag on the page's window; it is gone once the page
// reloads or navigates, so stillSamePage tells a live update from a reload.
func (tb *tab) markPage() {
	tb.b.t.Helper()
	eval[bool](tb, `window.cloakroomTestNoReload = true`)
}

func (tb *tab) stillSamePage() bool {
	tb.b.t.Helper()
	return eval[bool](tb, `window.cloakroomTestNoReload === true`)
}

func jsString(s string) string { return jsValue(s) }

func jsValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// entriesString shows a log in a failure message.
func entriesString(es []entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n\t%s %s author=%q text=%q own=%v markup=%v", e.ID, e.Kind, e.Author, e.Text, e.Own, e.Markup)
	}
	return b.String()
}

func TestBrowserTwoPeople(t *testing.T) {
	b := newBrowser(t)
	alice := b.newTab(b.ctx, "alice", chromedp.WithNewBrowserContext())
	bob := b.newTab(b.ctx, "bob", chromedp.WithNewBrowserContext())

	alice.join("alice", testRoom)
	alice.waitLive()
	alice.markPage()
	bob.join("bob", testRoom)
	bob.waitLive()

	// alice learns of bob without reloading: the announcement and the
	// member list both arrive over the room's stream.
	alice.waitFor("bob's join is announced",
		logEntriesJS+`.some((e) => e.kind === 'join' && e.author === 'bob')`)
	for _, tb := range []*tab{alice, bob} {
		ms := tb.waitForMembers("alice", "bob")
		for _, m := range ms {
			if m.Me != (m.Name == tb.name) {
				t.Errorf("%s's member list marks %s with me=%v", tb.name, m.Name, m.Me)
			}
		}
	}

	// alice writes two lines, the second with markup in it, which must show
	// as typed and never become an element.
	lines := []string{"Morning, bob!", "Does <b>bold</b> stay plain text?"}
	text := strings.Join(lines, "\n")
	bob.markPage()
	alice.say(lines...)

	got := bob.waitForMessage(text)
	if !bob.stillSamePage() {
		t.Error("bob's page reloaded to show alice's message; it should arrive live")
	}
	if got.Author != "alice" || got.Own || len(got.Markup) != 0 {
		t.Errorf("bob sees alice's message as author=%q own=%v markup=%v, want author alice, not own, no markup", got.Author, got.Own, got.Markup)
	}
	mine := alice.waitForMessage(text)
	if mine.Author != "alice" || !mine.Own || len(mine.Markup) != 0 {
		t.Errorf("alice sees her own message as author=%q own=%v markup=%v, want author alice, class own, no markup", mine.Author, mine.Own, mine.Markup)
	}
	if !alice.stillSamePage() {
		t.Error("alice's page reloaded after she joined or sent; the room should update live")
	}

	bob.sayWithEnter("Yes, it shows as typed. Notes are at https://example.com/notes")
	reply := alice.waitForMessage("Yes, it shows as typed. Notes are at https://example.com/notes")
	if reply.Author != "bob" || reply.Own {
		t.Errorf("alice sees bob's reply as author=%q own=%v, want author bob, not own", reply.Author, reply.Own)
	}
	alice.say("Great, thanks!")
	bob.waitForMessage("Great, thanks!")

	if os.Getenv("CLOAKROOM_SCREENSHOT") == "1" {
		png, err := chromedp.Run(bob.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.MkdirAll("docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("docs", "screenshot.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote docs/screenshot.png")
	}

	// The message is history: a reload shows it again, still escaped.
	bob.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("composer")))
	if bob.stillSamePage() {
		t.Fatal("bob's page did not reload")
	}
	var again *entry
	es := bob.entries()
	for i := range es {
		if es[i].Kind == "msg" && es[i].Text == text {
			again = &es[i]
		}
	}
	switch {
	case again == nil:
		t.Errorf("after a reload, bob's log has no message %q:%s", text, entriesString(es))
	case again.Author != "alice" || again.Own || len(again.Markup) != 0:
		t.Errorf("after a reload, bob sees alice's message as author=%q own=%v markup=%v, want author alice, not own, no markup", again.Author, again.Own, again.Markup)
	}
	bob.markPage()

	// alice leaves: she is back on the front page, and bob sees her go.
	resp, err := chromedp.RunResponse(alice.ctx, chromedp.Click(chromedp.CSS(`form.leave button[type="submit"]`)))
	if err != nil {
		alice.fatalf("alice: click Leave: %v", err)
	}
	if resp.Status != 200 {
		t.Errorf("leaving gave %d %s, want 200", resp.Status, resp.StatusText)
	}
	if u := alice.location(); u.Path != "/" {
		t.Errorf("after leaving, alice is on %s, want /", u)
	}
	bob.waitFor("alice's leaving is announced",
		logEntriesJS+`.some((e) => e.kind === 'leave' && e.author === 'alice' && e.text.startsWith('alice left the room'))`)
	bob.waitForMembers("bob")
	if !bob.stillSamePage() {
		t.Error("bob's page reloaded to show alice leaving; it should arrive live")
	}
}

func TestBrowserTwoTabsOneBrowser(t *testing.T) {
	b := newBrowser(t)
	one := b.newTab(b.ctx, "tab-one", chromedp.WithNewBrowserContext())
	two := b.newTab(one.ctx, "tab-two") // the same browser context: one cookie jar

	idOne := one.join("tab-one", testRoom)
	idTwo := two.join("tab-two", testRoom)
	one.waitLive()
	two.waitLive()
	if idOne == idTwo {
		t.Fatalf("both tabs are member %s; each join should make a member of its own", idOne)
	}
	for _, tb := range []*tab{one, two} {
		for _, m := range tb.waitForMembers("tab-one", "tab-two") {
			if m.Me != (m.Name == tb.name) {
				t.Errorf("%s's member list marks %s with me=%v", tb.name, m.Name, m.Me)
			}
		}
	}

	// tab one posts after tab two joined with the same cookie: the page's
	// own member, not the browser's latest, is the author.
	one.sayWithEnter("hello from tab one")
	two.sayWithEnter("hello from tab two")
	want := map[string]string{"hello from tab one": "tab-one", "hello from tab two": "tab-two"}
	for _, tb := range []*tab{one, two} {
		for text, author := range want {
			e := tb.waitForMessage(text)
			if e.Author != author {
				t.Errorf("%s shows %q by %q, want by %q", tb.name, text, e.Author, author)
			}
			if e.Own != (author == tb.name) {
				t.Errorf("%s shows %q with own=%v, want %v", tb.name, text, e.Own, author == tb.name)
			}
		}
	}
}

func TestBrowserWithoutJavaScript(t *testing.T) {
	b := newBrowser(t)
	tb := b.newTab(b.ctx, "no-js", chromedp.WithNewBrowserContext())
	if _, err := chromedp.Call(tb.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("turn JavaScript off: %v", err)
	}

	tb.join("nojs", testRoom)
	if htmx := eval[string](tb, `typeof window.htmx`); htmx != "undefined" {
		t.Fatalf("htmx is loaded (typeof window.htmx is %s); JavaScript should be off", htmx)
	}
	note, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.ID("conn")))
	if err != nil {
		tb.fatalf("read the connection status: %v", err)
	}
	if !strings.Contains(note, "Reload to see new messages") {
		t.Errorf("without JavaScript the status says %q, want the <noscript> advice to reload", note)
	}

	// The composer is a plain form: Send posts it and the server redirects
	// back to the room, which now shows the message.
	text := "plain form,\nno script"
	tb.do("type a message", chromedp.SetValue(chromedp.ID("text"), text))
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))
	if err != nil {
		tb.fatalf("send the form: %v", err)
	}
	if resp.Status != 200 {
		t.Fatalf("sending gave %d %s, want 200 after the redirect", resp.Status, resp.StatusText)
	}
	if u := tb.location(); u.Path != "/rooms/"+testRoom {
		t.Errorf("after sending, the page is %s, want /rooms/%s", u, testRoom)
	}
	es := tb.entries()
	found := false
	for _, e := range es {
		if e.Kind == "msg" && e.Text == text {
			found = true
			if e.Author != "nojs" || !e.Own {
				t.Errorf("the message shows as author=%q own=%v, want author nojs, own", e.Author, e.Own)
			}
		}
	}
	if !found {
		t.Errorf("after sending without JavaScript, the log has no message %q:%s", text, entriesString(es))
	}

	tb.downloadTranscript(text)

	resp, err = chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(`form.leave button[type="submit"]`)))
	if err != nil {
		tb.fatalf("click Leave: %v", err)
	}
	if u := tb.location(); resp.Status != 200 || u.Path != "/" {
		t.Errorf("leaving gave %d and %s, want 200 and /", resp.Status, u)
	}
}

// downloadTranscript clicks the room's "Download transcript" link, a
// plain download link, and checks the file the browser saved: named
// for the room, with the message text in it, its further lines indented.
func (tb *tab) downloadTranscript(text string) {
	tb.b.t.Helper()
	dir := tb.b.t.TempDir()
	events := true
	if _, err := chromedp.CallBrowser(tb.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior:         cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName,
		BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
		DownloadPath:     dir,
		EventsEnabled:    &events,
	}); err != nil {
		tb.fatalf("%s: allow downloads: %v", tb.name, err)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	names, done := make(chan string, 1), make(chan string, 1)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		switch e := ev.(type) {
		case *cdpbrowser.EventDownloadWillBegin:
			select {
			case names <- e.SuggestedFilename:
			default:
			}
		case *cdpbrowser.EventDownloadProgress:
			if e.State == cdpbrowser.DownloadProgressStateCompleted {
				select {
				case done <- e.GUID:
				default:
				}
			}
		}
	}); err != nil {
		tb.fatalf("%s: listen for downloads: %v", tb.name, err)
	}
	before := time.Now()
	tb.do("click Download transcript", chromedp.Click(chromedp.CSS(`.transcript a[href$="/transcript.txt"]`)))
	var name, guid string
	for name == "" || guid == "" {
		select {
		case name = <-names:
		case guid = <-done:
		case <-ctx.Done():
			tb.fatalf("%s: the transcript did not download (name %q, guid %q)", tb.name, name, guid)
		}
	}
	fileName := func(at time.Time) string {
		return "cloakroom-" + testRoom + "-" + at.UTC().Format(time.DateOnly) + ".txt"
	}
	if name != fileName(before) && name != fileName(time.Now()) { // either side of midnight
		tb.b.t.Errorf("the transcript downloads as %q, want %q", name, fileName(before))
	}
	body, err := os.ReadFile(filepath.Join(dir, guid))
	if err != nil {
		tb.fatalf("%s: read the download: %v", tb.name, err)
	}
	entry := ": " + strings.ReplaceAll(text, "\n", "\n  ") + "\n"
	if !strings.HasPrefix(string(body), "# Cloakroom transcript of #"+testRoom) || !strings.Contains(string(body), entry) {
		tb.b.t.Errorf("the downloaded transcript has no entry ending %q:\n%s", entry, body)
	}
}

// TestBrowserReportsConsoleErrors checks the guard the other tests rely on:
// a Content-Security-Policy violation reaches the collected console errors.
func TestBrowserReportsConsoleErrors(t *testing.T) {
	b := newBrowser(t)
	tb := b.newTab(b.ctx, "csp", chromedp.WithNewBrowserContext())
	tb.do("open the front page", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	// An inline script is what the policy forbids first.
	eval[bool](tb, `(() => { const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.body.append(s); return true; })()`)
	if eval[bool](tb, `window.inlineRan === true`) {
		t.Error("an inline script ran; the Content-Security-Policy should forbid it")
	}
	// Taken here, these expected errors are not reported again when the
	// test ends.
	errs := tb.takeConsoleErrors()
	found := false
	for _, e := range errs {
		if strings.Contains(e, "Content Security Policy") {
			found = true
		}
	}
	if !found {
		t.Errorf("the console errors %q have no Content Security Policy violation", errs)
	}
}
