package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/cloakroom/cloakroom/handlers"
)

// loseFirstAnswer serves the app, except that the first message posted is
// handled in full (stored, published) and then its connection is closed
// with no answer: the answer was lost on its way back.
type loseFirstAnswer struct {
	next http.Handler

	mu   sync.Mutex
	keys []string // each post's Idempotency-Key, in order
}

func (l *loseFirstAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/messages") {
		l.next.ServeHTTP(w, r)
		return
	}
	l.mu.Lock()
	l.keys = append(l.keys, r.Header.Get("Idempotency-Key"))
	first := len(l.keys) == 1
	l.mu.Unlock()
	if !first {
		l.next.ServeHTTP(w, r)
		return
	}
	l.next.ServeHTTP(httptest.NewRecorder(), r)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

func (l *loseFirstAnswer) posts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.keys)
}

// A message whose answer is lost is sent again by the page, with the same
// id, and shows once, in the page and in the room's history.
func TestBrowserRetryDoesNotDuplicate(t *testing.T) {
	chromiumPath(t)
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	streams := handlers.NewStreams(handlers.Config{})
	hub := chat.NewHub(box, chat.Config{}, streams.Publish, nil)
	lose := &loseFirstAnswer{next: handlers.New(hub, streams, handlers.Config{})}
	srv := httptest.NewUnstartedServer(lose)
	srv.Config.RegisterOnShutdown(streams.Close)
	// Chromium sends a request again by itself when a connection it had
	// used before closes with no answer; on a fresh connection the failure
	// reaches the page, which is what this test is about.
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Start()
	t.Cleanup(func() {
		streams.Close()
		srv.CloseClientConnections()
		srv.Close()
	})

	b := newBrowserFor(t, srv.URL)
	alice := b.newTab(b.ctx, "alice", chromedp.WithNewBrowserContext())
	alice.join("alice", testRoom)
	alice.waitLive()
	// What the composer says on the way, kept from here on.
	eval[bool](alice, `(() => {
		const el = document.getElementById('composer-error');
		window.cloakroomTestSaid = [];
		new MutationObserver(() => window.cloakroomTestSaid.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
		return true;
	})()`)

	alice.say("sent once") // waits until the composer is cleared: the retry was answered
	alice.say("and the next")
	alice.waitForMessage("and the next")
	alice.waitForMessage("sent once") // fails if the log shows it twice

	keys := lose.posts()
	if len(keys) != 3 || keys[0] == "" || keys[1] != keys[0] || keys[2] == keys[0] {
		t.Errorf("the posts carried the ids %q; want the first one twice (lost, then retried), then a new one", keys)
	}
	said := eval[[]string](alice, `window.cloakroomTestSaid`)
	if !slices.Contains(said, "Could not send — trying again…") || said[len(said)-1] != "" {
		t.Errorf("the composer said %q; want it to say it is trying again, and then nothing", said)
	}

	p, err := hub.History(testRoom, 0, chat.MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, ev := range p.Events {
		if ev.Kind == chat.KindMessage {
			texts = append(texts, ev.Text)
		}
	}
	if diff := cmp.Diff([]string{"sent once", "and the next"}, texts); diff != "" {
		t.Errorf("the room's history (-want +got):\n%s", diff)
	}

	// The lost answer is a failed request in the console, Chromium's and
	// htmx's; only those are expected.
	for _, e := range alice.takeConsoleErrors() {
		if !strings.Contains(e, "net::ERR_EMPTY_RESPONSE") && !strings.Contains(e, "htmx:error: Failed to fetch") {
			t.Errorf("console error in %s", e)
		}
	}
}
