package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
)

// roundRobin is a balancer's transport: each request goes to the next node
// in turn, and to the one after when a node refuses the connection (it is
// down), as a balancer passes a dead node over. No stickiness.
type roundRobin struct {
	nodes      []string // host:port
	next       atomic.Uint64
	tr         http.Transport
	lastStream atomic.Value // the node that took the latest event stream
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	// The body is read once, for every node tried: a transport closes the
	// body of a request it could not send.
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	start := rr.next.Add(1)
	var err error
	for i := range rr.nodes {
		out := req.Clone(req.Context())
		out.Body = http.NoBody
		if len(body) > 0 {
			out.Body = io.NopCloser(bytes.NewReader(body))
		}
		out.URL.Host = rr.nodes[(start+uint64(i))%uint64(len(rr.nodes))]
		var resp *http.Response
		resp, err = rr.tr.RoundTrip(out)
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || op.Op != "dial" {
			if err == nil && strings.HasSuffix(req.URL.Path, "/events") {
				rr.lastStream.Store(out.URL.Host)
			}
			return resp, err
		}
	}
	return nil, err
}

// balance serves a round-robin reverse proxy in front of the nodes, which
// passes each event of a stream on as it comes (no buffering), and returns
// its URL and a function naming the node that took the latest stream.
func balance(t *testing.T, nodes ...*nodeProcess) (string, func() *nodeProcess) {
	t.Helper()
	// A connection of its own for each request: a dead node is then a
	// refused dial, passed over, never a pooled connection found broken
	// under a request already sent (which a balancer answers 502).
	rr := &roundRobin{tr: http.Transport{DisableKeepAlives: true}}
	for _, n := range nodes {
		u, err := url.Parse(n.base)
		if err != nil {
			t.Fatal(err)
		}
		rr.nodes = append(rr.nodes, u.Host)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", rr.nodes[0] // the transport picks the node
			pr.Out.Host = pr.In.Host                                 // the cross-origin check compares it with Origin
		},
		Transport:     rr,
		FlushInterval: -1,
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		rr.tr.CloseIdleConnections()
	})
	return srv.URL, func() *nodeProcess {
		host, _ := rr.lastStream.Load().(string)
		for _, n := range nodes {
			if strings.HasSuffix(n.base, "//"+host) {
				return n
			}
		}
		t.Fatalf("no node took a stream (last: %q)", host)
		return nil
	}
}

// Two people in chromium talk through a round-robin balancer in front of
// two nodes: every request may reach either node. Then the node holding
// bob's stream dies (SIGKILL) mid-conversation: the streams it held
// reconnect through the balancer to the other node, resume from their last
// event, and the conversation goes on with nothing missed or repeated, and
// no page reloaded.
func TestBrowserTwoPeopleThroughABalancer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs three processes and a browser")
	}
	chromiumPath(t)
	natsBin, err := builtNATS()
	if err != nil {
		t.Fatal(err)
	}
	ns := startNATS(t, natsBin, "127.0.0.1:0")
	keyFile, _ := makeKeyFile(t, t.TempDir(), "master.key")
	n1 := startNode(t, "web1", ns.url(), keyFile)
	n2 := startNode(t, "web2", ns.url(), keyFile)
	base, streaming := balance(t, n1, n2)
	b := newBrowserFor(t, base)

	alice := b.newTab(b.ctx, "alice", chromedp.WithNewBrowserContext())
	bob := b.newTab(b.ctx, "bob", chromedp.WithNewBrowserContext())
	alice.join("alice", testRoom)
	alice.waitLive()
	bob.join("bob", testRoom)
	bob.waitLive()
	for _, tb := range []*tab{alice, bob} {
		tb.waitForMembers("alice", "bob")
	}
	bob.markPage()
	var said []string
	for i := range 4 {
		line := fmt.Sprintf("before %d", i)
		alice.say(line)
		bob.waitForMessage(line)
		said = append(said, line)
	}

	// The node holding bob's stream (the latest opened) dies: at least
	// that stream must reconnect to the other.
	dead := streaming()
	dead.kill()
	for i := range 4 {
		who, to := alice, bob
		if i%2 == 1 {
			who, to = bob, alice
		}
		line := fmt.Sprintf("after %d", i)
		who.say(line)
		to.waitForMessage(line)
		said = append(said, line)
	}
	if !bob.stillSamePage() {
		t.Error("bob's page reloaded; the node's death should only reconnect its stream")
	}
	// Both logs hold the conversation once, in order.
	for _, tb := range []*tab{alice, bob} {
		var got []string
		for _, e := range tb.entries() {
			if e.Kind == "msg" {
				got = append(got, e.Text)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(said) {
			t.Errorf("%s's log: %q, want %q", tb.name, got, said)
		}
	}
}
