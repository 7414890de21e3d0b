package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/cloakroom/cloakroom/handlers"
)

// poster is a member that uses the HTTP API as a script or curl would: its
// own cookie jar, a join form, and posts. Tests fill rooms with it far faster
// than typing would.
type poster struct {
	t      testing.TB
	base   string
	room   string
	id     string // the member id, ?m= of its room page
	client *http.Client
}

func joinRoom(t testing.TB, base, room, name string) *poster {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &poster{t: t, base: base, room: room, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
	loc := p.send("/join", url.Values{"username": {name}, "room": {room}}, http.StatusSeeOther)
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("m") == "" {
		t.Fatalf("joining %s as %s led to %q, with no member id", room, name, loc)
	}
	p.id = u.Query().Get("m")
	return p
}

// say posts a message as the page's script would.
func (p *poster) say(text string) {
	p.t.Helper()
	p.send("/rooms/"+p.room+"/messages", url.Values{"m": {p.id}, "text": {text}}, http.StatusNoContent)
}

func (p *poster) leave() {
	p.t.Helper()
	p.send("/rooms/"+p.room+"/leave", url.Values{"m": {p.id}}, http.StatusSeeOther)
}

// send posts a form and checks the status; it returns the Location.
func (p *poster) send(path string, form url.Values, want int) string {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		p.t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
	}
	return resp.Header.Get("Location")
}

// keptIDs asks the history route for every event a room keeps, and
// returns their entries' ids (e<id>), oldest first.
func keptIDs(t *testing.T, base, room string) []string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/rooms/"+room+"/messages?limit=200", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("HX-Request", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), `<li class="history-edge start">`) {
		t.Fatalf("GET the room's history: %d %v %.200s; want all of it, from the start", resp.StatusCode, err, body)
	}
	var ids []string
	for _, m := range regexp.MustCompile(`<li id="(e\d+)"`).FindAllStringSubmatch(string(body), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// fillRoomForReading gives a room a history with every kind of entry the
// log shows: joins, a leave, messages with links, a run of messages from
// one sender (grouped), and a message long enough to be collapsed; and
// more than the room page shows, so that it links to older messages.
func fillRoomForReading(t *testing.T, base, room string) {
	t.Helper()
	alice := joinRoom(t, base, room, "alice")
	for i := range 50 {
		alice.say(fmt.Sprintf("earlier message %d", i))
	}
	bob := joinRoom(t, base, room, "bob")
	alice.say("Morning! The notes are at https://example.com/notes")
	alice.say("and the agenda at https://example.com/agenda?day=1")
	alice.say("anyone around?")
	bob.say("Here. A long one follows:")
	long := make([]string, 40)
	for i := range long {
		long[i] = "line " + strings.Repeat("x", i%7+1)
	}
	bob.say(strings.Join(long, "\n"))
	carol := joinRoom(t, base, room, "carol")
	carol.say("hi all, only passing by")
	carol.leave()
	alice.say("bye carol")
	// Enough members that the list scrolls sideways on a phone.
	for _, name := range []string{"dmitri", "eleanor", "fatima"} {
		joinRoom(t, base, room, name)
	}
}

// waitReadingStates waits until the page shows what fillRoomForReading
// put in the room: a day separator, a grouped message and a collapsed one.
func (tb *tab) waitReadingStates() {
	tb.b.t.Helper()
	tb.waitFor("a day separator, a grouped message and a collapsed one", `
		document.querySelector('#log > li.day .day-title') &&
		document.querySelector('#log > li.msg.cont') &&
		document.querySelector('#log > li.msg.collapsed > button.more[aria-expanded="false"]')`)
}

// clock is a time the test sets, for a hub whose events must happen at
// chosen times.
type clock = chattest.Clock

func startClockedApp(t *testing.T, clk *clock) string {
	t.Helper()
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	streams := handlers.NewStreams(handlers.Config{})
	hub := chat.NewHub(box, chat.Config{Now: clk.Now}, streams.Publish, nil)
	srv := httptest.NewUnstartedServer(handlers.New(hub, streams, handlers.Config{}))
	srv.Config.RegisterOnShutdown(streams.Close)
	srv.Start()
	t.Cleanup(func() {
		streams.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}

// item is one item of the log, as a reader sees it: "day Today" for a
// separator, "msg text" or "join name" for an entry (with " +" when it
// continues a run), "start" or "older" for the edge of the history shown.
const logItemsJS = `[...document.querySelectorAll('#log > li')].map((li) => {
	if (li.classList.contains('day')) return 'day ' + li.textContent;
	if (li.classList.contains('history-edge')) return li.classList.contains('start') ? 'start' : 'older';
	const run = li.classList.contains('cont') ? ' +' : '';
	if (li.classList.contains('msg')) return 'msg ' + li.querySelector('.text').textContent + run;
	return li.className.replace('notice ', '') + ' ' + li.querySelector('.author').textContent + run;
})`

func (tb *tab) logItems() []string {
	tb.b.t.Helper()
	return eval[[]string](tb, logItemsJS)
}

// events returns the log's entries for events, without the separators
// and the edge of the history shown.
func (tb *tab) events() []entry {
	tb.b.t.Helper()
	var out []entry
	for _, e := range tb.entries() {
		if strings.HasPrefix(e.ID, "e") {
			out = append(out, e)
		}
	}
	return out
}

// place is where an entry is on screen: its id and its top edge.
type place struct {
	ID  string  `json:"id"`
	Top float64 `json:"top"`
}

// scrollBack scrolls the log to its top, again and again, until the start
// of the room's history shows. Each time, the entry that was first must stay
// where it was on screen as the page before it loads. It returns how many
// pages were loaded.
func (tb *tab) scrollBack() int {
	tb.b.t.Helper()
	for pages := 0; ; pages++ {
		if eval[bool](tb, `!!document.querySelector('#log > li.history-edge.start')`) {
			return pages
		}
		if pages > 100 {
			tb.fatalf("%s: no start of the history after %d pages", tb.name, pages)
		}
		first := eval[place](tb, `(() => {
			const log = document.getElementById('log');
			log.scrollTop = 0;
			const li = log.querySelector(':scope > li[id^="e"]');
			return {id: li.id, top: li.getBoundingClientRect().top};
		})()`)
		tb.waitFor("a page of older entries", fmt.Sprintf(
			`document.querySelector('#log > li[id^="e"]').id !== %s`, jsString(first.ID)))
		now := eval[place](tb, fmt.Sprintf(`(() => {
			const li = document.getElementById(%s);
			return {id: li.id, top: li.getBoundingClientRect().top};
		})()`, jsString(first.ID)))
		if math.Abs(now.Top-first.Top) > 1 {
			tb.fatalf("%s: loading page %d moved the entry that was first from %.1f to %.1f px", tb.name, pages+1, first.Top, now.Top)
		}
	}
}

// Scrolling back through a room that keeps 1000 events loads page after
// page in place, each without moving what the reader sees, until the start:
// then the log holds every kept event once, in order. Entries that arrive
// meanwhile land at the end, and only they are announced (the reader's own
// messages are not).
func TestBrowserScrollBack(t *testing.T) {
	b := newBrowser(t, limitsOff...)
	alice := joinRoom(t, b.base, testRoom, "alice")
	for i := range 500 {
		alice.say(fmt.Sprintf("message %d", i))
	}
	reader := b.newTab(b.ctx, "reader", chromedp.WithNewBrowserContext())
	reader.join("reader", testRoom)
	reader.waitLive()
	// A message of the reader's own is in the history it will load.
	reader.say("mine")
	reader.waitForMessage("mine")
	room := reader.location().String()
	reader.do("leave the page", chromedp.Navigate("about:blank"))
	for i := 500; i < 1000; i++ {
		alice.say(fmt.Sprintf("message %d", i))
	}
	reader.do("open the room again", chromedp.Navigate(room), chromedp.WaitVisible(chromedp.ID("composer")))
	reader.waitLive()
	if got := len(reader.events()); got != 50 {
		t.Errorf("the room page shows %d entries, want the newest 50", got)
	}

	pages := reader.scrollBack()
	alice.say("live 1")
	reader.waitForMessage("live 1")
	pages += reader.scrollBack()
	alice.say("live 2")
	reader.waitForMessage("live 2")
	joinRoom(t, b.base, testRoom, "bob")
	reader.waitFor("bob's join", `document.querySelector('#log > li.notice.join:last-child')?.textContent.includes('bob')`)
	reader.say("mine again")
	reader.waitForMessage("mine again")
	// The room had 1003 events when the reader scrolled back: alice's join,
	// 1000 messages of hers, the reader's join and "mine". It kept the
	// newest 1000, from message 2; the page showed 50, so 950 were loaded.
	if pages != 19 {
		t.Errorf("%d pages were loaded, want 19 (950 events, 50 a page)", pages)
	}
	es := reader.events()
	var want, got []string
	for i := 2; i < 500; i++ {
		want = append(want, fmt.Sprintf("msg message %d", i))
	}
	want = append(want, "join reader", "msg mine")
	for i := 500; i < 1000; i++ {
		want = append(want, fmt.Sprintf("msg message %d", i))
	}
	want = append(want, "msg live 1", "msg live 2", "join bob", "msg mine again")
	var last uint64
	for i, e := range es {
		if e.Kind == "msg" {
			got = append(got, "msg "+e.Text)
		} else {
			got = append(got, e.Kind+" "+e.Author)
		}
		id, err := strconv.ParseUint(strings.TrimPrefix(e.ID, "e"), 10, 64)
		if err != nil || (i > 0 && id != last+1) {
			t.Errorf("entry %d has id %q after %d; want ids going up by one", i, e.ID, last)
		}
		last = id
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the log after scrolling back (-want +got):\n%s", diff)
	}
	announced := eval[[]string](reader, `[...document.querySelectorAll('#announcer > *')].map((p) => p.textContent)`)
	if diff := cmp.Diff([]string{"alice: live 1", "alice: live 2", "bob joined the room"}, announced); diff != "" {
		t.Errorf("announced (-want +got):\n%s", diff)
	}
}

// Day separators follow the reader's time zone, also across a page of
// history loaded above; a sender's messages within five minutes of each
// other on one day are one run.
func TestBrowserDaysAndRuns(t *testing.T) {
	// Kathmandu is UTC+05:45 all year: its midnight is nobody's UTC
	// midnight, so a day taken in UTC would show.
	const zoneName = "Asia/Kathmandu"
	zone := time.FixedZone("+0545", 5*3600+45*60)
	now := time.Now().In(zone)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, zone)
	at := func(days int, hhmm string) time.Time {
		d, err := time.ParseDuration(strings.Replace(hhmm, ":", "h", 1) + "m")
		if err != nil {
			t.Fatal(err)
		}
		return today.AddDate(0, 0, days).Add(d)
	}
	clk := &clock{}
	b := newBrowserFor(t, startClockedApp(t, clk))

	clk.Set(at(-3, "10:00"))
	alice := joinRoom(t, b.base, testRoom, "alice")
	alice.say("three days ago")
	clk.Set(at(-1, "11:00"))
	carol := joinRoom(t, b.base, testRoom, "carol")
	for i := 1; i <= 55; i++ {
		clk.Set(at(-1, "12:00").Add(time.Duration(i) * time.Minute))
		carol.say(fmt.Sprintf("filler %d", i))
	}
	clk.Set(at(-1, "23:40"))
	bob := joinRoom(t, b.base, testRoom, "bob")
	for _, m := range []struct {
		day      int
		at, text string
	}{
		{-1, "23:55", "late yesterday"},
		{-1, "23:58", "still yesterday"},
		{0, "00:01", "just after midnight"},
		{0, "00:10", "ten past"},
		{0, "00:12", "twelve past"},
	} {
		clk.Set(at(m.day, m.at))
		bob.say(m.text)
	}
	clk.Set(at(0, "00:13"))
	alice.say("alice answers")
	clk.Set(at(0, "00:14"))
	bob.say("bob again")
	clk.Set(at(0, "00:20"))

	reader := b.newTab(b.ctx, "reader", chromedp.WithNewBrowserContext())
	if _, err := chromedp.Call(reader.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zoneName}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(reader.ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en-US"}); err != nil {
		t.Fatal(err)
	}
	reader.join("reader", testRoom)
	reader.waitLive()
	if time.Now().In(zone).YearDay() != now.YearDay() {
		t.Skip("the day changed in Kathmandu during the test; its expectations no longer hold")
	}

	threeDaysAgo := at(-3, "00:00").Format("Monday, January 2")
	if at(-3, "00:00").Year() != now.Year() {
		threeDaysAgo = at(-3, "00:00").Format("Monday, January 2, 2006")
	}
	fillers := func(from, to int, first string) []string {
		var out []string
		for i := from; i <= to; i++ {
			run := " +"
			if i == from {
				run = first
			}
			out = append(out, fmt.Sprintf("msg filler %d%s", i, run))
		}
		return out
	}
	recent := []string{
		"join bob",
		"msg late yesterday",
		"msg still yesterday +",
		"day Today",
		"msg just after midnight",
		"msg ten past",
		"msg twelve past +",
		"msg alice answers",
		"msg bob again",
		"join reader",
	}

	// The page shows the newest 50: carol's run from its 15th message.
	want := append(append([]string{"older", "day Yesterday"}, fillers(15, 55, "")...), recent...)
	if diff := cmp.Diff(want, reader.logItems()); diff != "" {
		t.Errorf("the room page (-want +got):\n%s", diff)
	}

	// Loaded above it, the rest of yesterday takes the separator, and the
	// run goes on across the seam.
	reader.scrollBack()
	want = append(append([]string{
		"start",
		"day " + threeDaysAgo,
		"join alice",
		"msg three days ago",
		"day Yesterday",
		"join carol",
	}, fillers(1, 55, "")...), recent...)
	if diff := cmp.Diff(want, reader.logItems()); diff != "" {
		t.Errorf("after scrolling back (-want +got):\n%s", diff)
	}

	// A grouped message keeps its name and time for screen readers, and
	// its time as a tooltip.
	cont := eval[[]string](reader, `(() => {
		const li = [...document.querySelectorAll('#log > li.msg.cont')].find((li) => li.textContent.includes('twelve past'));
		return [li.querySelector('.author').textContent, li.querySelector('time').getAttribute('datetime'), li.title.replace(/\u202f/g, ' '), getComputedStyle(li.querySelector('.meta')).clipPath];
	})()`)
	wantCont := []string{"bob", at(0, "00:12").UTC().Format(time.RFC3339), at(0, "00:12").Format("Monday, January 2, 2006 at 3:04 PM"), "inset(50%)"}
	if diff := cmp.Diff(wantCont, cont); diff != "" {
		t.Errorf("a grouped message's name, time, tooltip and hidden meta (-want +got):\n%s", diff)
	}
}

// lines is a message of n numbered lines.
func lines(n int) string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("line %d", i+1)
	}
	return strings.Join(l, "\n")
}

// A message over 20 lines shows its first lines and a real button that
// shows the rest, by mouse or keyboard.
func TestBrowserLongMessagesCollapse(t *testing.T) {
	b := newBrowser(t)
	alice := joinRoom(t, b.base, testRoom, "alice")
	paste := strings.TrimSpace(strings.Repeat("a pasted paragraph with no line breaks in it, ", 65))
	tests := []struct {
		name      string
		text      string
		collapsed bool
	}{
		{"19 lines", lines(19), false},
		{"20 lines", lines(20), false},
		{"22 lines", lines(22), true},
		{"40 lines", lines(40), true},
		{"a 3000-character paste on one line", paste, true},
	}
	for _, tt := range tests {
		alice.say(tt.text)
	}
	reader := b.newTab(b.ctx, "reader", chromedp.WithNewBrowserContext())
	reader.join("reader", testRoom)
	reader.waitLive()

	type shown struct {
		Collapsed bool   `json:"collapsed"`
		Button    string `json:"button"`
		Expanded  string `json:"expanded"`
		Controls  bool   `json:"controls"` // aria-controls names the text
		Cut       bool   `json:"cut"`      // part of the text is out of sight
	}
	show := func(text string) shown {
		t.Helper()
		return eval[shown](reader, fmt.Sprintf(`(() => {
			const li = [...document.querySelectorAll('#log > li.msg')].find((li) => li.querySelector('.text').textContent === %s);
			const text = li.querySelector('.text');
			const button = li.querySelector('button.more');
			return {
				collapsed: li.classList.contains('collapsed'),
				button: button ? button.textContent : '',
				expanded: button ? button.getAttribute('aria-expanded') : '',
				controls: !!button && button.getAttribute('aria-controls') === text.id,
				cut: text.scrollHeight > text.clientHeight + 1,
			};
		})()`, jsString(text)))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := shown{}
			if tt.collapsed {
				want = shown{Collapsed: true, Button: "Show more", Expanded: "false", Controls: true, Cut: true}
			}
			if diff := cmp.Diff(want, show(tt.text)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// The keyboard opens and closes it: Enter, then Space, on the button.
	focus := fmt.Sprintf(`[...document.querySelectorAll('#log > li.msg')].find((li) => li.querySelector('.text').textContent === %s).querySelector('button.more').focus()`, jsString(lines(40)))
	eval[any](reader, focus)
	reader.do("press Enter", chromedp.KeyEvent("\r"))
	if diff := cmp.Diff(shown{Button: "Show less", Expanded: "true", Controls: true}, show(lines(40))); diff != "" {
		t.Errorf("after Enter on Show more (-want +got):\n%s", diff)
	}
	reader.do("press Space", chromedp.KeyEvent(" "))
	if diff := cmp.Diff(shown{Collapsed: true, Button: "Show more", Expanded: "false", Controls: true, Cut: true}, show(lines(40))); diff != "" {
		t.Errorf("after Space on Show less (-want +got):\n%s", diff)
	}
}

// One letter with 400 combining marks stays inside its bubble on a phone:
// the log never scrolls sideways.
func TestBrowserCombiningMarkFlood(t *testing.T) {
	b := newBrowser(t)
	alice := joinRoom(t, b.base, testRoom, "alice")
	floods := []string{
		"Z" + strings.Repeat("\u0301\u0300\u0302\u0303", 100),
		"x" + strings.Repeat("\u0489", 400),
		strings.Repeat("\u0e49", 400),
	}
	for _, f := range floods {
		alice.say(f)
	}
	alice.say("after the floods")
	reader := b.newTab(b.ctx, "reader", chromedp.WithNewBrowserContext())
	reader.join("reader", testRoom)
	reader.wear(look{"phone", false, 390, 844, true})
	reader.waitForMessage("after the floods")

	type fit struct {
		ScrollWidth int      `json:"scrollWidth"`
		ClientWidth int      `json:"clientWidth"`
		Outside     []string `json:"outside"` // entries that reach past the log's sides
	}
	got := eval[fit](reader, `(() => {
		const log = document.getElementById('log');
		const box = log.getBoundingClientRect();
		const outside = [...log.children].filter((li) => {
			const r = li.getBoundingClientRect();
			return r.left < box.left || r.right > box.left + log.clientWidth;
		}).map((li) => li.id || li.className);
		return {scrollWidth: log.scrollWidth, clientWidth: log.clientWidth, outside};
	})()`)
	if got.ScrollWidth > got.ClientWidth || len(got.Outside) > 0 {
		t.Errorf("at 390 px the log is %d px wide with %d px of content; entries past its sides: %v", got.ClientWidth, got.ScrollWidth, got.Outside)
	}
}

// Without script the room page links to the page of older messages, and
// that page to the pages either side and back to the room.
func TestBrowserOlderWithoutJavaScript(t *testing.T) {
	b := newBrowser(t, limitsOff...)
	alice := joinRoom(t, b.base, testRoom, "alice")
	for i := range 120 {
		alice.say(fmt.Sprintf("message %d", i))
	}
	tb := b.newTab(b.ctx, "no-js", chromedp.WithNewBrowserContext())
	if _, err := chromedp.Call(tb.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("turn JavaScript off: %v", err)
	}
	tb.join("nojs", testRoom)

	texts := func() []string {
		return eval[[]string](tb, `[...document.querySelectorAll('ol.log > li[id^="e"]')].map((li) =>
			li.classList.contains('msg') ? li.querySelector('.text').textContent : li.querySelector('.author').textContent + ' joined')`)
	}
	messages := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("message %d", i))
		}
		return out
	}
	follow := func(what, link string) {
		t.Helper()
		resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(link)))
		if err != nil || resp.Status != 200 {
			tb.fatalf("%s: follow %s: %v %v", tb.name, what, resp, err)
		}
	}
	steps := []struct {
		name string
		link string // what to follow, from the page before
		path string
		want []string
		edge string // what the top of the log says
	}{
		{"the room page", "", "/rooms/" + testRoom, append(messages(71, 119), "nojs joined"), "Older messages"},
		{"older messages", "li.history-edge.older > a", "/rooms/" + testRoom + "/messages", messages(21, 70), "Older messages"},
		{"older again", `a[rel="prev"]`, "/rooms/" + testRoom + "/messages", append([]string{"alice joined"}, messages(0, 20)...), "Start of the history this room keeps"},
		{"newer", `a[rel="next"]`, "/rooms/" + testRoom + "/messages", messages(21, 70), "Older messages"},
		{"back to the room", `ol.log a[href="/rooms/` + testRoom + `"]`, "/rooms/" + testRoom, append(messages(71, 119), "nojs joined"), "Older messages"},
	}
	for _, s := range steps {
		if s.link != "" {
			follow(s.name, s.link)
		}
		if u := tb.location(); u.Path != s.path {
			t.Errorf("%s: at %s, want %s", s.name, u, s.path)
		}
		if diff := cmp.Diff(s.want, texts()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
		if edge := eval[string](tb, `document.querySelector('ol.log > li.history-edge').textContent.trim()`); edge != s.edge {
			t.Errorf("%s: the log begins with %q, want %q", s.name, edge, s.edge)
		}
	}
}

// TestBrowserTimeToLive measures, and does not judge, how long a room page
// takes from navigation to saying "Live" (#conn data-state="live"), by the
// page's own clock, for an empty room and one that keeps 1000 events, with
// the CPU at full speed and throttled 4×. It runs only when
// CLOAKROOM_MEASURE is set, to the number of loads per case (default 7):
//
//	CLOAKROOM_MEASURE=7 go test -run TestBrowserTimeToLive -v .
//
// docs/benchmarks.md has the figures.
func TestBrowserTimeToLive(t *testing.T) {
	runs, err := strconv.Atoi(os.Getenv("CLOAKROOM_MEASURE"))
	if os.Getenv("CLOAKROOM_MEASURE") == "" {
		t.Skip("a measurement, not a test: set CLOAKROOM_MEASURE to the number of loads per case to run it")
	}
	if err != nil || runs < 1 {
		runs = 7
	}
	for _, events := range []int{0, 1000} {
		t.Run(fmt.Sprintf("%d events", events), func(t *testing.T) {
			b := newBrowser(t, limitsOff...)
			alice := joinRoom(t, b.base, testRoom, "alice")
			for i := range events {
				alice.say(fmt.Sprintf("message %d: %s", i, strings.Repeat("words ", i%20)))
			}
			tb := b.newTab(b.ctx, "reader", chromedp.WithNewBrowserContext())
			// Notes the moment the page first says Live, by its own clock
			// (milliseconds since navigation began).
			if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
				new MutationObserver(() => {
					if (!window.cloakroomLiveAt && document.getElementById('conn')?.dataset.state === 'live') window.cloakroomLiveAt = performance.now();
				}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-state']});
			`}); err != nil {
				t.Fatal(err)
			}
			tb.join("reader", testRoom)
			room := tb.location().String()
			for _, rate := range []float64{1, 4} {
				if _, err := chromedp.Call(tb.ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: rate}); err != nil {
					t.Fatal(err)
				}
				type load struct {
					Live    float64 `json:"live"`    // ms from navigation to Live
					Ready   float64 `json:"ready"`   // ms to DOMContentLoaded
					Bytes   int     `json:"bytes"`   // the page's HTML
					Nodes   int     `json:"nodes"`   // elements in the page
					Entries int     `json:"entries"` // items in the log
				}
				var loads []load
				for range runs {
					tb.do("open the room", chromedp.Navigate(room))
					tb.waitLive()
					loads = append(loads, eval[load](tb, `(() => {
						const nav = performance.getEntriesByType('navigation')[0];
						return {
							live: window.cloakroomLiveAt,
							ready: nav.domContentLoadedEventEnd,
							bytes: nav.decodedBodySize,
							nodes: document.getElementsByTagName('*').length,
							entries: document.querySelectorAll('#log > li').length,
						};
					})()`))
				}
				var live, ready []float64
				for _, l := range loads {
					live = append(live, l.Live)
					ready = append(ready, l.Ready)
				}
				l := loads[len(loads)-1]
				t.Logf("%4d events, CPU slowed %g×: Live %s, DOMContentLoaded %s; %d B of HTML, %d elements, %d log items (%d loads)",
					events, rate, spread(live), spread(ready), l.Bytes, l.Nodes, l.Entries, runs)
			}
		})
	}
}

// spread is "median ms (min–max)".
func spread(ms []float64) string {
	s := slices.Clone(ms)
	slices.Sort(s)
	median := s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%.0f ms (%.0f–%.0f)", median, s[0], s[len(s)-1])
}
