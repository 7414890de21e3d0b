package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/static"
)

// The tabs of one browser that show one room share one event stream: one
// tab holds it and relays what it reads to the others (static/tabs.js).

// role is what the tab's script says its part in the shared stream is:
// holder, follower or solo.
func (tb *tab) role() string {
	tb.b.t.Helper()
	return eval[string](tb, `document.getElementById('conn').dataset.role || ''`)
}

// eventually waits until cond holds, checking it every 100 ms, for at most
// waitTimeout. It is for conditions that span tabs, which no one page can
// wait on. what describes the condition, and what was last seen.
func eventually(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", waitTimeout, what())
		}
		<-tick.C
	}
}

// oneHolder waits until exactly one of the tabs holds the stream and the
// others follow it, and returns the holder.
func oneHolder(t *testing.T, tabs []*tab) *tab {
	t.Helper()
	var holder *tab
	var roles []string
	eventually(t, func() string {
		return "one tab to hold the stream and the others to follow; roles: " + strings.Join(roles, " ")
	}, func() bool {
		holder, roles = nil, nil
		holders := 0
		for _, tb := range tabs {
			r := tb.role()
			roles = append(roles, tb.name+"="+r)
			switch r {
			case "holder":
				holders++
				holder = tb
			case "follower":
			default:
				holders = -len(tabs)
			}
		}
		return holders == 1
	})
	t.Logf("roles: %s", strings.Join(roles, " "))
	return holder
}

// logIDs reads the ids of the log's entries, in the order shown. Items
// that are not events (the "New" divider) have no id and are skipped.
func (tb *tab) logIDs() []uint64 {
	tb.b.t.Helper()
	var ids []uint64
	for _, e := range tb.entries() {
		if e.ID == "" {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimPrefix(e.ID, "e"), 10, 64)
		if err != nil {
			tb.fatalf("%s: log entry with id %q", tb.name, e.ID)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkGapless fails the test unless the tab's log shows consecutive event
// ids: every event once, in order, none missing.
func checkGapless(t *testing.T, tb *tab) []uint64 {
	t.Helper()
	ids := tb.logIDs()
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Errorf("%s's log goes from e%d to e%d; want every event once, in order:%s", tb.name, ids[i-1], ids[i], entriesString(tb.entries()))
			break
		}
	}
	return ids
}

// waitForTexts waits until the tab's log holds each of these messages.
func (tb *tab) waitForTexts(texts []string) {
	tb.b.t.Helper()
	tb.waitFor(fmt.Sprintf("the log shows all of %q", texts), fmt.Sprintf(`((want) => {
		const got = new Set(%s.filter((e) => e.kind === 'msg').map((e) => e.text));
		return want.every((w) => got.has(w));
	})(%s)`, logEntriesJS, jsValue(texts)))
}

// closeTab closes a tab as a person does: its page unloads.
func (tb *tab) closeTab() {
	tb.b.t.Helper()
	if err := chromedp.Cancel(tb.ctx); err != nil {
		tb.b.t.Fatalf("close %s: %v", tb.name, err)
	}
}

// crash makes the tab's renderer crash: the page ends without unloading.
func (tb *tab) crash() {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	_, _ = chromedp.Call(ctx, page.Crash, cdp.Empty{}) // it answers by crashing, or not at all
	if err := chromedp.Cancel(tb.ctx); err != nil {
		tb.b.t.Logf("closing crashed %s: %v", tb.name, err)
	}
}

// memberStates reads the member list as name → state (online, idle, away).
func (tb *tab) memberStates() map[string]string {
	tb.b.t.Helper()
	return eval[map[string]string](tb, `Object.fromEntries([...document.querySelectorAll('#members li.member')].map((li) => [
		(li.querySelector('.name') || {}).textContent || '',
		['online', 'idle', 'away'].find((s) => li.classList.contains(s)) || li.className,
	]))`)
}

// presenceWait bounds a wait for a member list to show a change of
// presence: the server shows a member away only after the presence grace
// (5 s), and sends lists at most every 2 s; a tab that crashed is noticed
// first, which with heartbeats takes a few seconds more (about 15 s in all,
// more on a busy machine).
const presenceWait = 30 * time.Second

// waitForMemberState waits until the tab's member list shows name in state.
func (tb *tab) waitForMemberState(name, state string) {
	tb.b.t.Helper()
	tb.waitForWithin(presenceWait, fmt.Sprintf("%s shows as %s", name, state), fmt.Sprintf(
		`[...document.querySelectorAll('#members li.member')].some((li) => li.querySelector('.name')?.textContent === %s && li.classList.contains(%s))`,
		jsString(name), jsString(state)))
}

func TestBrowserTabsShareOneStream(t *testing.T) {
	for _, tc := range []struct {
		name     string
		insecure bool // plain http:// on a name that is not localhost: no Web Locks
		tabs     int
		election string // what the pages elect their holder with
	}{
		{name: "web locks", tabs: 8, election: "locks"},
		{name: "heartbeats", insecure: true, tabs: 4, election: "beats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t)
			base := b.base
			if tc.insecure {
				base = strings.Replace(base, "127.0.0.1", insecureHost, 1)
			}
			// The browser context of this person's browser: one cookie jar,
			// one set of locks. Its first tab stays blank, since closing
			// it would close them all.
			person := b.newTab(b.ctx, "blank", chromedp.WithNewBrowserContext())
			var tabs []*tab
			for i := range tc.tabs {
				name := fmt.Sprintf("tab%d", i+1)
				tb := b.newTab(person.ctx, name)
				tb.base = base
				tb.join(name, testRoom)
				tabs = append(tabs, tb)
			}
			for _, tb := range tabs {
				tb.waitLive()
				if got := eval[string](tb, `window.isSecureContext && navigator.locks ? 'locks' : 'beats'`); got != tc.election {
					t.Fatalf("%s elects with %s, want %s", tb.name, got, tc.election)
				}
			}
			holder := oneHolder(t, tabs)

			// Every tab's member is present through the one stream: the
			// others see each of them online.
			for _, tb := range tabs {
				holder.waitForMemberState(tb.name, "online")
			}

			// Each tab posts as its own member; every tab shows every
			// message once, in order, by its author.
			var texts []string
			for _, tb := range tabs {
				text := "hello from " + tb.name
				tb.sayWithEnter(text)
				texts = append(texts, text)
			}
			var want []uint64
			for _, tb := range tabs {
				tb.waitForTexts(texts)
				ids := checkGapless(t, tb)
				if want == nil {
					want = ids
				} else if diff := cmp.Diff(want, ids); diff != "" {
					t.Errorf("%s's log differs from %s's (-%s +%s):\n%s", tb.name, tabs[0].name, tabs[0].name, tb.name, diff)
				}
				for _, text := range texts {
					e := tb.waitForMessage(text)
					if author := strings.TrimPrefix(text, "hello from "); e.Author != author || e.Own != (author == tb.name) {
						t.Errorf("%s shows %q by %q own=%v, want by %s own=%v", tb.name, text, e.Author, e.Own, author, author == tb.name)
					}
				}
			}

			// The holder closes, and a follower crashes (it never says
			// goodbye): another tab takes over, resumes where the stream
			// was, and no tab misses or repeats an event.
			var rest []*tab
			for _, tb := range tabs {
				if tb != holder {
					rest = append(rest, tb)
				}
			}
			crashed := rest[len(rest)-1]
			rest = rest[:len(rest)-1]
			for _, tb := range rest {
				tb.markPage()
			}
			holder.closeTab()
			crashed.crash()
			next := oneHolder(t, rest)
			after := []string{"after the takeover, from " + rest[0].name, "and from " + rest[len(rest)-1].name}
			rest[0].sayWithEnter(after[0])
			rest[len(rest)-1].sayWithEnter(after[1])
			want = nil
			for _, tb := range rest {
				tb.waitForTexts(append(texts, after...))
				ids := checkGapless(t, tb)
				if want == nil {
					want = ids
				} else if diff := cmp.Diff(want, ids); diff != "" {
					t.Errorf("after the takeover, %s's log differs from %s's (-%s +%s):\n%s", tb.name, rest[0].name, rest[0].name, tb.name, diff)
				}
				if !tb.stillSamePage() {
					t.Errorf("%s reloaded during the takeover; it should have carried on", tb.name)
				}
			}

			// The closed tab's member and the crashed one's go away; the
			// others stay online.
			next.waitForMemberState(holder.name, "away")
			next.waitForMemberState(crashed.name, "away")
			states := next.memberStates()
			for _, tb := range rest {
				if states[tb.name] != "online" {
					t.Errorf("after the takeover, %s shows as %q, want online (members: %v)", tb.name, states[tb.name], states)
				}
			}
		})
	}
}

// A tab that opens while the room is busy must not miss what the holder
// relayed between the moment its page was rendered and the moment its
// script listened: it asks the holder, which keeps the latest events.
func TestBrowserNewTabCatchesUp(t *testing.T) {
	b := newBrowser(t)
	person := b.newTab(b.ctx, "blank", chromedp.WithNewBrowserContext())
	first := b.newTab(person.ctx, "first")
	late := b.newTab(person.ctx, "late")
	id := first.join("first", testRoom)
	first.waitLive()
	first.say("before the late tab opens")

	// The late tab's page is rendered, but its script is held back while
	// three more messages go by.
	paused := chromedp.Events(late.ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(late.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/static/" + static.AppJS}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(late.ctx, page.Navigate, page.NavigateParams{URL: b.base + "/rooms/" + testRoom + "?m=" + id}); err != nil {
		t.Fatal(err)
	}
	var held fetch.EventRequestPaused
	for ev, err := range paused {
		if err != nil {
			t.Fatalf("waiting for the late tab to ask for its script: %v", err)
		}
		held = ev
		break
	}
	missed := []string{"one", "two", "three"}
	for _, s := range missed {
		first.say(s)
	}
	first.waitForTexts(missed)
	if _, err := chromedp.Call(late.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: held.RequestID}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(late.ctx, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}

	late.waitLive()
	if r := late.role(); r != "follower" {
		t.Errorf("the late tab is %q, want a follower of the first", r)
	}
	first.say("after")
	late.waitForTexts(append(missed, "after"))
	ids := checkGapless(t, late)
	if diff := cmp.Diff(checkGapless(t, first), ids); diff != "" {
		t.Errorf("the late tab's log differs from the first's (-first +late):\n%s", diff)
	}
}

// A browser may freeze a background tab. The holder steps aside before it
// is frozen, so another tab carries on with the stream; thawed, it catches
// up on what it missed.
func TestBrowserFrozenHolderHandsOver(t *testing.T) {
	b := newBrowser(t)
	person := b.newTab(b.ctx, "blank", chromedp.WithNewBrowserContext())
	one := b.newTab(person.ctx, "one")
	two := b.newTab(person.ctx, "two")
	one.join("one", testRoom)
	one.waitLive()
	two.join("two", testRoom)
	two.waitLive()
	holder := oneHolder(t, []*tab{one, two})
	other := one
	if holder == one {
		other = two
	}
	freeze := func(state page.SetWebLifecycleStateState) {
		t.Helper()
		if _, err := chromedp.Call(holder.ctx, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: state}); err != nil {
			t.Fatalf("set %s's lifecycle state to %s: %v", holder.name, state, err)
		}
	}
	other.waitForMemberState(holder.name, "online")
	other.recordMembers()
	freeze(page.SetWebLifecycleStateStateFrozen)
	other.waitFor("the other tab takes the stream", `document.getElementById('conn').dataset.role === 'holder'`)
	other.waitLive()
	missed := []string{"said while " + holder.name + " was frozen", "and once more"}
	for _, s := range missed {
		other.say(s)
	}
	freeze(page.SetWebLifecycleStateStateActive)
	holder.waitForTexts(missed)
	if diff := cmp.Diff(checkGapless(t, other), checkGapless(t, holder)); diff != "" {
		t.Errorf("after thawing, %s's log differs from %s's (-%s +%s):\n%s", holder.name, other.name, other.name, holder.name, diff)
	}
	if r := holder.role(); r != "follower" {
		t.Errorf("after thawing, %s is %q, want a follower", holder.name, r)
	}
	// Chrome hides a page to freeze it (and DevTools keeps it hidden after
	// thawing): its member stays present, idle, never away.
	other.waitForMemberState(holder.name, "idle")
	if diff := cmp.Diff([]string{"online", "idle"}, other.memberHistory()[holder.name]); diff != "" {
		t.Errorf("%s saw the frozen tab's member as (-want +got):\n%s", other.name, diff)
	}
}

// The connection state says what the stream is doing: when the server goes
// away, Reconnecting… at once, and Offline once retries keep failing.
func TestBrowserConnectionStates(t *testing.T) {
	b := newBrowser(t)
	tb := b.newTab(b.ctx, "tab", chromedp.WithNewBrowserContext())
	tb.join("someone", testRoom)
	tb.waitLive()
	eval[bool](tb, `(() => {
		const conn = document.getElementById('conn');
		const seen = window.cloakroomTestConn = [conn.dataset.state + ' ' + conn.textContent];
		new MutationObserver(() => {
			const now = conn.dataset.state + ' ' + conn.textContent;
			if (seen[seen.length - 1] !== now) seen.push(now);
		}).observe(conn, {attributes: true, childList: true, characterData: true, subtree: true});
		return true;
	})()`)
	if err := b.stopApp(); err != nil {
		t.Fatalf("stopping the app: %v", err)
	}
	tb.waitForWithin(presenceWait, "the page says it is offline", `document.getElementById('conn').dataset.state === 'offline'`)
	got := eval[[]string](tb, `window.cloakroomTestConn`)
	if diff := cmp.Diff([]string{"live Live", "reconnecting Reconnecting…", "offline Offline"}, got); diff != "" {
		t.Errorf("with the server gone, the connection state went (-want +got):\n%s", diff)
	}
	// Each failed attempt is a console error of the browser's own; they
	// are expected here. Leaving the page ends the retries first.
	tb.do("leave the page", chromedp.Navigate("about:blank"))
	tb.takeConsoleErrors()
}

// Without BroadcastChannel the tabs cannot share: each keeps a stream of
// its own, and still shows everything once.
func TestBrowserTabsWithoutBroadcastChannel(t *testing.T) {
	b := newBrowser(t)
	person := b.newTab(b.ctx, "blank", chromedp.WithNewBrowserContext())
	tabs := []*tab{b.newTab(person.ctx, "one"), b.newTab(person.ctx, "two")}
	for _, tb := range tabs {
		if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.BroadcastChannel`}); err != nil {
			t.Fatal(err)
		}
		tb.join(tb.name, testRoom)
		tb.waitLive()
	}
	for _, tb := range tabs {
		if r := tb.role(); r != "solo" {
			t.Errorf("%s is %q, want solo", tb.name, r)
		}
		tb.sayWithEnter("alone in " + tb.name)
	}
	for _, tb := range tabs {
		tb.waitForTexts([]string{"alone in one", "alone in two"})
		checkGapless(t, tb)
		for _, other := range tabs {
			tb.waitForMemberState(other.name, "online")
		}
	}
}
