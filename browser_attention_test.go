package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// A tab in the background stays in the room, and draws its reader back:
// unread count, favicon dot, "New" divider, mentions and their alerts
// (static/attention.js).

// show makes the tab the active one of its window, and so visible.
func (tb *tab) show() {
	tb.b.t.Helper()
	if _, err := chromedp.Call(tb.ctx, page.BringToFront, cdp.Empty{}); err != nil {
		tb.fatalf("%s: bring to front: %v", tb.name, err)
	}
	tb.waitFor("the page is visible", `document.visibilityState === 'visible'`)
}

// recordMembers makes the page keep, for each member name, the states its
// member list has shown, in order, with "gone" once the name is no longer
// listed. memberHistory reads them.
func (tb *tab) recordMembers() {
	tb.b.t.Helper()
	eval[bool](tb, `(() => {
		const seen = window.cloakroomTestMembers = {};
		const record = () => {
			const now = new Map();
			for (const li of document.querySelectorAll('#members li.member')) {
				const name = li.querySelector('.name')?.textContent || '';
				now.set(name, ['online', 'idle', 'away'].find((s) => li.classList.contains(s)) || li.className);
			}
			for (const name of new Set([...Object.keys(seen), ...now.keys()])) {
				const states = seen[name] ||= [];
				const state = now.get(name) || 'gone';
				if (states[states.length - 1] !== state) states.push(state);
			}
		};
		record();
		new MutationObserver(record).observe(document.querySelector('.members-pane'), {subtree: true, childList: true, attributes: true});
		return true;
	})()`)
}

func (tb *tab) memberHistory() map[string][]string {
	tb.b.t.Helper()
	return eval[map[string][]string](tb, `window.cloakroomTestMembers`)
}

func TestBrowserHiddenTabStaysAndCounts(t *testing.T) {
	// The away timeout leaves room for the presence grace (5 s) and the
	// member list's debounce (2 s), so that a closed member shows away
	// before it leaves.
	b := newBrowser(t, "--away-timeout", "10s")
	// alice's tab shares the browser's window with its first, blank tab:
	// showing the blank one hides hers.
	alice := b.newTab(b.ctx, "alice", chromedp.WithNewWindow(false))
	bob := b.newTab(b.ctx, "bob", chromedp.WithNewBrowserContext())
	// dave has the room open in two tabs, both as the same member.
	dave := b.newTab(b.ctx, "dave", chromedp.WithNewBrowserContext())
	dave2 := b.newTab(dave.ctx, "dave-2")

	alice.join("alice", testRoom)
	alice.waitLive()
	bob.join("bob", testRoom)
	bob.waitLive()
	daveID := dave.join("dave", testRoom)
	dave2.do("open dave's room in a second tab",
		chromedp.Navigate(b.base+"/rooms/"+testRoom+"?m="+daveID), chromedp.WaitVisible(chromedp.ID("composer")))
	dave2.waitLive()
	bob.recordMembers()
	for _, name := range []string{"alice", "dave"} {
		bob.waitForMemberState(name, "online")
	}
	title := eval[string](alice, `document.title`)
	if want := "#" + testRoom + " · Cloakroom"; title != want {
		t.Fatalf("alice's title is %q, want %q", title, want)
	}

	// alice's tab goes to the background; dave closes one tab, then the
	// other.
	alice.markPage()
	if _, err := chromedp.Call(b.ctx, page.BringToFront, cdp.Empty{}); err != nil {
		t.Fatalf("show the blank tab: %v", err)
	}
	alice.waitFor("alice's tab is hidden", `document.visibilityState === 'hidden'`)
	bob.waitForMemberState("alice", "idle")
	dave.closeTab()
	dave2.closeTab()

	// bob writes; the hidden tab receives it all and counts what it missed.
	said := []string{"Morning @alice, got a minute?", "No rush.", "Ping me later @alice_b"}
	for _, s := range said {
		bob.say(s)
	}
	alice.waitFor("alice's title counts 3 unread", fmt.Sprintf(`document.title === %s`, jsString("(3) #"+testRoom+" · Cloakroom")))
	if icon := eval[string](alice, `document.querySelector('link[rel~="icon"]').getAttribute('href')`); icon != "/static/favicon-unread.svg" {
		t.Errorf("while hidden with unread messages, alice's icon is %q, want the one with a dot", icon)
	}

	// dave, with no tab left, goes away and then leaves, announced; by
	// then alice has been hidden for longer than the away timeout.
	bob.waitForWithin(presenceWait, "dave's leaving is announced",
		logEntriesJS+`.some((e) => e.kind === 'leave' && e.author === 'dave')`)
	alice.waitFor("alice's hidden tab shows dave leaving",
		logEntriesJS+`.some((e) => e.kind === 'leave' && e.author === 'dave')`)
	history := bob.memberHistory()
	if diff := cmp.Diff([]string{"online", "idle"}, history["alice"]); diff != "" {
		t.Errorf("bob saw alice, hidden past the away timeout, as (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"online", "away", "gone"}, history["dave"]); diff != "" {
		t.Errorf("bob saw dave, who closed both his tabs, as (-want +got):\n%s", diff)
	}
	for _, e := range bob.entries() {
		if e.Kind == "leave" && e.Author == "alice" {
			t.Errorf("bob's log says alice left: %q", e.Text)
		}
	}
	if !alice.stillSamePage() {
		t.Error("alice's hidden page reloaded; it should have stayed in the room")
	}

	// alice comes back: the count and the dot go, a divider sits above the
	// first message she had not seen, and the mention is highlighted.
	alice.show()
	alice.waitFor("alice's title has no count", fmt.Sprintf(`document.title === %s`, jsString("#"+testRoom+" · Cloakroom")))
	if icon := eval[string](alice, `document.querySelector('link[rel~="icon"]').getAttribute('href')`); icon != "/static/favicon.svg" {
		t.Errorf("back in view, alice's icon is %q, want the plain one", icon)
	}
	type shown struct {
		Divider     int      // how many "New" dividers
		AfterIt     string   // the text of the message right after it
		Mentions    []string // the texts of the entries marked as mentions
		Marked      []string // the marked names
		Tags        int      // "mentions you" tags
		Highlighted bool     // the mention's style differs from a plain message's by more than colour
	}
	got := eval[shown](alice, `(() => {
		const dividers = document.querySelectorAll('#log > li.new-divider');
		const next = dividers[0]?.nextElementSibling;
		const mentions = [...document.querySelectorAll('#log > li.msg.mention')];
		const plain = [...document.querySelectorAll('#log > li.msg:not(.mention)')].pop();
		const bar = (li) => getComputedStyle(li).borderInlineStartWidth;
		return {
			Divider: dividers.length,
			AfterIt: next?.querySelector('.text')?.textContent || '',
			Mentions: mentions.map((li) => li.querySelector('.text').textContent),
			Marked: [...document.querySelectorAll('#log mark.mention-name')].map((m) => m.textContent),
			Tags: document.querySelectorAll('#log .mention-tag').length,
			Highlighted: mentions.length > 0 && !!plain && bar(mentions[0]) !== bar(plain),
		};
	})()`)
	want := shown{Divider: 1, AfterIt: said[0], Mentions: said[:1], Marked: []string{"@alice"}, Tags: 1, Highlighted: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("back in view, alice's log shows (-want +got):\n%s", diff)
	}
	bob.waitForMemberState("alice", "online")
}

// alertFakes stands in for the browser's Notification (which headless
// chromium cannot show) and counts the oscillators the page starts, before
// any of the page's scripts run. The page's own code runs unchanged.
const alertFakes = `(() => {
	const t = window.cloakroomTest = {shown: [], asked: 0, chimes: 0};
	let permission = 'default';
	class Notification {
		constructor(title, options) { t.shown.push({title, body: options?.body || '', tag: options?.tag || ''}); }
		close() {}
		static get permission() { return permission; }
		static requestPermission() { t.asked++; permission = 'granted'; return Promise.resolve(permission); }
	}
	Object.defineProperty(window, 'Notification', {value: Notification, configurable: true, writable: true});
	const start = OscillatorNode.prototype.start;
	OscillatorNode.prototype.start = function (...args) { t.chimes++; return start.apply(this, args); };
})()`

func (tb *tab) installAlertFakes() {
	tb.b.t.Helper()
	if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: alertFakes}); err != nil {
		tb.fatalf("%s: install the alert fakes: %v", tb.name, err)
	}
}

type notification struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	Tag   string `json:"tag"`
}

func (tb *tab) notifications() []notification {
	tb.b.t.Helper()
	return eval[[]notification](tb, `window.cloakroomTest.shown`)
}

func TestBrowserMentionAlerts(t *testing.T) {
	b := newBrowser(t)
	// carol and dave are two tabs of one browser, as two members; carol's
	// shares a window with a blank tab, which hides it when shown.
	person := b.newTab(b.ctx, "blank", chromedp.WithNewBrowserContext())
	carol := b.newTab(person.ctx, "carol", chromedp.WithNewWindow(false))
	dave := b.newTab(person.ctx, "dave")
	erin := b.newTab(b.ctx, "erin", chromedp.WithNewBrowserContext())
	carol.installAlertFakes()
	dave.installAlertFakes()

	carol.join("carol", testRoom)
	carol.waitLive()
	if asked := eval[int](carol, `window.cloakroomTest.asked`); asked != 0 {
		t.Fatalf("the page asked for notification permission %d times on load; it may ask only on a click", asked)
	}
	carol.do("turn on notifications and sound",
		chromedp.Click(chromedp.CSS(".alerts summary")),
		chromedp.Click(chromedp.ID("alert-notify")),
		chromedp.Click(chromedp.ID("alert-sound")),
	)
	carol.waitFor("notifications are on", `document.getElementById('alert-notify').checked`)
	if asked := eval[int](carol, `window.cloakroomTest.asked`); asked != 1 {
		t.Errorf("turning notifications on asked for permission %d times, want once", asked)
	}
	// The choices are remembered for the browser: dave's tab has them too.
	dave.join("dave", testRoom)
	dave.waitLive()
	type settings struct{ Notify, Sound, Disabled bool }
	// (Its fake Notification has no permission, as a real one would have,
	// so notifications stay off there.)
	got := eval[settings](dave, `({Notify: document.getElementById('alert-notify').checked, Sound: document.getElementById('alert-sound').checked, Disabled: document.getElementById('alert-notify').disabled})`)
	if want := (settings{Notify: false, Sound: true}); got != want {
		t.Errorf("dave's tab shows the switches as %+v, want %+v", got, want)
	}

	erin.join("erin", testRoom)
	erin.waitLive()
	chimesBefore := eval[int](carol, `window.cloakroomTest.chimes`)
	if _, err := chromedp.Call(person.ctx, page.BringToFront, cdp.Empty{}); err != nil {
		t.Fatalf("show the blank tab: %v", err)
	}
	carol.waitFor("carol's tab is hidden", `document.visibilityState === 'hidden'`)

	erin.say("@carol the build is green")
	carol.waitFor("carol is notified", `window.cloakroomTest.shown.length > 0`)
	dave.waitForMessage("@carol the build is green")
	wantShown := []notification{{Title: "erin mentioned you in #" + testRoom, Body: "@carol the build is green"}}
	shown := carol.notifications()
	for i := range shown {
		if !strings.HasPrefix(shown[i].Tag, "cloakroom:"+testRoom+":") {
			t.Errorf("notification %d has tag %q, want one per room and message", i, shown[i].Tag)
		}
		shown[i].Tag = ""
	}
	if diff := cmp.Diff(wantShown, shown); diff != "" {
		t.Errorf("carol's notifications (-want +got):\n%s", diff)
	}
	if n := len(dave.notifications()); n != 0 {
		t.Errorf("dave's tab showed %d notifications for a mention of carol, want none", n)
	}
	if chimes := eval[int](carol, `window.cloakroomTest.chimes`); chimes <= chimesBefore {
		t.Errorf("carol's tab started %d oscillators for the mention, want a chime", chimes-chimesBefore)
	}
}

func TestBrowserNotificationsNeedASecureContext(t *testing.T) {
	b := newBrowser(t)
	tb := b.newTab(b.ctx, "frank", chromedp.WithNewBrowserContext())
	tb.base = strings.Replace(b.base, "127.0.0.1", insecureHost, 1)
	tb.join("frank", testRoom)
	tb.waitLive()
	type control struct {
		Secure   bool
		Disabled bool
		Why      string
		Sound    bool // the sound switch works everywhere
	}
	got := eval[control](tb, `({
		Secure: window.isSecureContext,
		Disabled: document.getElementById('alert-notify').disabled,
		Why: document.getElementById('alert-notify-why').textContent,
		Sound: !document.getElementById('alert-sound').disabled,
	})`)
	want := control{Secure: false, Disabled: true, Why: "Needs HTTPS: browsers show notifications only for secure pages.", Sound: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("on plain http:// the notification switch shows (-want +got):\n%s", diff)
	}
}

func TestBrowserNewMessagesCue(t *testing.T) {
	b := newBrowser(t)
	alice := b.newTab(b.ctx, "alice", chromedp.WithNewBrowserContext())
	bob := b.newTab(b.ctx, "bob", chromedp.WithNewBrowserContext())
	alice.join("alice", testRoom)
	bob.join("bob", testRoom)
	alice.waitLive()
	bob.waitLive()
	// A short window, so that a few messages overflow bob's log.
	bob.do("make the window short", chromedp.EmulateViewport(800, 320))
	for _, s := range []string{"one", "two", "three"} {
		alice.say(s)
	}
	bob.waitForMessage("three")
	bob.waitFor("bob's log overflows and he scrolls up", `(() => {
		const log = document.getElementById('log');
		log.scrollTop = 0;
		return log.scrollHeight > log.clientHeight + 100;
	})()`)
	bob.waitFor("the scroll is seen", `document.getElementById('log').scrollTop === 0`)

	for _, s := range []string{"four", "five", "six"} {
		alice.say(s)
	}
	bob.waitForMessage("six")
	type cue struct {
		Shown  bool
		Text   string
		Covers bool // the cue overlaps the log
	}
	got := eval[cue](bob, `(() => {
		const jump = document.getElementById('jump');
		const j = jump.getBoundingClientRect();
		const l = document.getElementById('log').getBoundingClientRect();
		return {Shown: !jump.hidden, Text: jump.textContent, Covers: j.top < l.bottom && j.bottom > l.top};
	})()`)
	if diff := cmp.Diff(cue{Shown: true, Text: "3 new messages ↓"}, got); diff != "" {
		t.Errorf("scrolled up while three messages came, bob's cue shows (-want +got):\n%s", diff)
	}
	bob.do("click the cue", chromedp.Click(chromedp.ID("jump")))
	bob.waitFor("bob is at the bottom and the cue is gone", `(() => {
		const log = document.getElementById('log');
		return document.getElementById('jump').hidden && log.scrollHeight - log.scrollTop - log.clientHeight < 2;
	})()`)
}

// axe finds nothing wrong with what draws a reader back: the open Alerts
// panel (its notification switch disabled with the reason, as on plain
// http://), the "New" divider, a mention, and an idle member.
func TestBrowserAxeAttention(t *testing.T) {
	src := axeSource(t)
	b := newBrowser(t)
	alice := b.newTab(b.ctx, "alice", chromedp.WithNewWindow(false))
	alice.base = strings.Replace(b.base, "127.0.0.1", insecureHost, 1)
	alice.bypassCSP()
	alice.join("alice", testRoom)
	alice.waitLive()

	// bob posts as a script does; carol keeps a stream open that marks her
	// idle, as a browser whose tabs are all hidden does.
	bob := joinRoom(t, b.base, testRoom, "bob")
	carol := joinRoom(t, b.base, testRoom, "carol")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/rooms/"+testRoom+"/events?m="+carol.id+"&idle="+carol.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Jar: carol.client.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	go func() { _, _ = io.Copy(io.Discard, resp.Body) }()

	if _, err := chromedp.Call(b.ctx, page.BringToFront, cdp.Empty{}); err != nil {
		t.Fatalf("show the blank tab: %v", err)
	}
	alice.waitFor("alice's tab is hidden", `document.visibilityState === 'hidden'`)
	bob.say("@alice the notes are ready")
	bob.say("and the agenda")
	alice.waitFor("alice's title counts 2 unread", fmt.Sprintf(`document.title === %s`, jsString("(2) #"+testRoom+" · Cloakroom")))
	alice.show()
	alice.waitForMemberState("carol", "idle")
	alice.do("open the alerts", chromedp.Click(chromedp.CSS(".alerts summary")))
	alice.waitFor("the divider, the mention and the disabled switch", `document.querySelector('#log > li.new-divider') &&
		document.querySelector('#log > li.msg.mention') && document.getElementById('alert-notify').disabled &&
		document.querySelector('.alerts').open`)
	for _, l := range looks {
		t.Run(l.name, func(t *testing.T) {
			alice.wear(l)
			for _, v := range alice.axe(src) {
				t.Errorf("axe: %s", v)
			}
		})
	}
}
