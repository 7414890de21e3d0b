package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// Over HTTPS a browser keeps all its rooms' streams on one HTTP/2
// connection: seven rooms in seven tabs of one browser are all live at
// once (over HTTP/1.1 the seventh would wait for one of six connections),
// and a message posted in the last reaches it. Chromium trusts the test's
// certificate by its public key, so the pages are a secure context, as on
// a real certificate.
func TestBrowserSevenRoomsOverHTTP2(t *testing.T) {
	chromiumPath(t)
	ca := newTestCA(t)
	base, stopApp := startApp(t, append([]string{"--tls-cert", ca.certFile, "--tls-key", ca.keyFile}, limitsOff...)...)
	b := newBrowserFor(t, base, chromedp.Flag("ignore-certificate-errors-spki-list", ca.spki))
	b.stopApp = stopApp

	first := b.newTab(b.ctx, "p1", chromedp.WithNewBrowserContext())
	first.join("p1", "room1")
	tabs := []*tab{first}
	for i := 2; i <= 7; i++ {
		// The form is typed into once; the other joins are the same POST,
		// from the page, to keep the test short.
		room, err := chromedp.Run(first.ctx, chromedp.Evaluate[string](fmt.Sprintf(
			`fetch('/join', {method: 'POST', body: new URLSearchParams({username: 'p%d', room: 'room%d'})}).then((r) => r.url)`, i, i), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("join room%d: %v", i, err)
		}
		tb := b.newTab(first.ctx, fmt.Sprint("p", i)) // the same cookie jar
		tb.do("open room"+fmt.Sprint(i), chromedp.Navigate(room), chromedp.WaitVisible(chromedp.ID("composer")))
		tabs = append(tabs, tb)
	}
	for _, tb := range tabs {
		tb.waitLive()
	}
	last := tabs[len(tabs)-1]
	if proto := eval[string](last, `performance.getEntriesByType('navigation')[0].nextHopProtocol`); proto != "h2" {
		t.Errorf("the page came over %q, want h2", proto)
	}
	if !eval[bool](last, `window.isSecureContext`) {
		t.Error("the page is not a secure context")
	}
	last.sayWithEnter("seven rooms, one connection")
	last.waitForMessage("seven rooms, one connection")
}
