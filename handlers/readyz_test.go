package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/limits"
)

// getAnswer is a plain GET of url, with no cookie; an error's request id
// is left out of the body (withoutRequestID).
func getAnswer(t *testing.T, url string) answer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: withoutRequestID(t, resp, string(body))}
}

// /readyz follows Ready (nil: ready), on the main surface and on Admin's;
// /metrics is there only when given, and Admin serves nothing else.
func TestReadyzAndMetricsRoutes(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "some_metric 1\n") })
	var ready atomic.Bool
	admin := httptest.NewServer(Admin(metrics, ready.Load))
	t.Cleanup(admin.Close)
	withAll := newTestServer(t, chat.Config{}, Config{Ready: ready.Load, Metrics: metrics})
	plain := newTestServer(t, chat.Config{}, Config{})

	notReady, isReady := answer{Status: http.StatusServiceUnavailable, Body: "not ready"}, answer{Status: http.StatusOK, Body: "ready"}
	tests := []struct {
		name  string
		ready bool
		url   string
		want  answer
	}{
		{"main, not ready", false, withAll.URL + "/readyz", notReady},
		{"main, ready", true, withAll.URL + "/readyz", isReady},
		{"main, metrics", false, withAll.URL + "/metrics", answer{Status: http.StatusOK, Body: "some_metric 1\n"}},
		{"main without Ready", false, plain.URL + "/readyz", isReady},
		{"main without Metrics", false, plain.URL + "/metrics", answer{Status: http.StatusNotFound, Body: "Not Found.\n"}},
		{"admin, not ready", false, admin.URL + "/readyz", notReady},
		{"admin, ready", true, admin.URL + "/readyz", isReady},
		{"admin, metrics", false, admin.URL + "/metrics", answer{Status: http.StatusOK, Body: "some_metric 1\n"}},
		{"admin, anything else", true, admin.URL + "/healthz", answer{Status: http.StatusNotFound, Body: "404 page not found\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready.Store(tt.ready)
			if diff := cmp.Diff(tt.want, getAnswer(t, tt.url)); diff != "" {
				t.Errorf("GET %s (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

// OnPost hears of every post that went through, and of no other; the
// streams' OnStreamWrite of every live write.
func TestPostAndStreamWriteHooks(t *testing.T) {
	var mu sync.Mutex
	var posts []time.Duration
	var frames int
	srv := newTestServer(t, chat.Config{}, Config{
		Limits: limits.New(limits.Config{MemberPosts: limits.Rate{PerSecond: 0.001, Burst: 2}}),
		OnPost: func(d time.Duration) {
			mu.Lock()
			posts = append(posts, d)
			mu.Unlock()
		},
		OnStreamWrite: func(n int) {
			mu.Lock()
			frames += n
			mu.Unlock()
		},
	})
	alice := srv.browser(t)
	me := alice.join("lobby", "alice")
	reader := srv.browser(t).stream("/rooms/lobby/events", nil)
	waitFor(t, 5*time.Second, "the reader", func() bool { return srv.hub.Readers("lobby") == 1 })
	alice.say("lobby", me, "one")
	alice.say("lobby", me, "two")
	for _, text := range []string{"over the limit", ""} { // both refused
		form := url.Values{"text": {text}, "m": {strconv.FormatUint(me, 10)}}
		if status, _, _ := alice.post("/rooms/lobby/messages", form, nil); status == http.StatusSeeOther {
			t.Fatalf("post %q went through", text)
		}
	}
	reader.take(t, 2)
	waitFor(t, 5*time.Second, "the writes counted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return frames == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 2 || posts[0] <= 0 || posts[1] <= 0 {
		t.Errorf("OnPost heard %v, want two positive durations", posts)
	}
}
