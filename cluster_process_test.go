package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests here run what an operator runs: one nats-server process and
// three cloakroom processes (the real binary) on the loopback, and talk to
// them over HTTP as browsers and bots do.

// builtNATS builds nats-server from the module version go.mod pins (the one
// the other tests embed) once per test process, so that nothing but Go is
// needed: Debian's nats-server is too old (see README "Running several
// nodes").
var builtNATS = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "cloakroom-nats-")
	if err != nil {
		return "", err
	}
	natsDir = dir
	bin := filepath.Join(dir, "nats-server")
	// -race, as the test binary was built: natstest's embedded server
	// compiled the same packages so, and the build cache has them.
	out, err := exec.Command("go", "build", "-race", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", &buildError{err: err, out: string(out)}
	}
	return bin, nil
})

// natsDir holds the built nats-server, if any; TestMain removes it.
var natsDir string

// natsProcess is a nats-server with JetStream in a process of its own.
type natsProcess struct {
	bin, addr string
	cmd       *exec.Cmd
	out       *logBuffer
	exited    chan struct{} // closed once the process has exited
}

// startNATS starts a nats-server with JetStream on addr ("127.0.0.1:0"
// picks a free port), its store in a new temporary directory, and more
// args if given, and waits until it takes connections. It is killed when
// the test ends.
func startNATS(t *testing.T, bin, addr string, args ...string) *natsProcess {
	t.Helper()
	if strings.HasSuffix(addr, ":0") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	host, port, _ := net.SplitHostPort(addr)
	n := &natsProcess{bin: bin, addr: addr, out: &logBuffer{}}
	n.cmd = exec.Command(bin, append([]string{"-js", "-a", host, "-p", port, "-sd", t.TempDir()}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	dieWithTest(n.cmd)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(n.kill)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(n.out.String(), "Server is ready") {
		select {
		case <-n.exited:
			t.Fatalf("nats-server exited:\n%s", n.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start:\n%s", n.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// kill ends the server at once, as a crash would, and waits for it.
func (n *natsProcess) kill() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

func (n *natsProcess) url() string { return "nats://" + n.addr }

// nodeProcess is one cloakroom process serving on a free port.
type nodeProcess struct {
	name, base string
	metrics    string // the metrics server's base URL, with --metrics-addr
	cmd        *exec.Cmd
	out        *logBuffer // stderr: the log
}

// clusterFlags lift the per-client limits: every request of a test comes
// from the one loopback address.
var clusterFlags = []string{
	"--client-post-rate", "0", "--member-post-rate", "0", "--client-joins", "0", "--client-streams", "0",
}

// startNode starts the built binary as node name, sharing rooms through
// natsURL with the master key in keyFile, and waits for its address.
func startNode(t *testing.T, name, natsURL, keyFile string, flags ...string) *nodeProcess {
	t.Helper()
	args := append([]string{"--addr", "127.0.0.1:0", "--nats", natsURL, "--master-key-file", keyFile, "--node", name}, clusterFlags...)
	n := &nodeProcess{name: name, out: &logBuffer{}}
	n.cmd = binaryCommand(t, append(args, flags...)...)
	n.cmd.Stderr = n.out
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, n.out)
		}
	})
	// The first lines say where it serves metrics (with --metrics-addr)
	// and where it listens.
	type firstLines struct {
		metrics, base string
		err           error
	}
	got := make(chan firstLines, 1)
	lines := bufio.NewReader(stdout)
	go func() {
		var fl firstLines
		for fl.base == "" && fl.err == nil {
			var line string
			line, fl.err = lines.ReadString('\n')
			line = strings.TrimSpace(line)
			if m, ok := strings.CutPrefix(line, "Metrics are served on "); ok {
				fl.metrics = strings.TrimSuffix(m, "/metrics")
			}
			_, fl.base, _ = strings.Cut(line, "listening on ")
		}
		got <- fl
	}()
	var fl firstLines
	select {
	case fl = <-got:
	case <-time.After(time.Minute):
		n.kill()
		t.Fatalf("%s did not say where it listens within a minute; its log:\n%s", name, n.out)
	}
	if fl.err != nil {
		t.Fatalf("%s did not start: %v\n%s", name, fl.err, n.out)
	}
	n.base, n.metrics = fl.base, fl.metrics
	go func() { _, _ = io.Copy(io.Discard, lines) }()
	return n
}

// kill ends the node with SIGKILL: a crash, nothing cleaned up.
func (n *nodeProcess) kill() {
	if n.cmd.ProcessState == nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
}

// frame is one SSE event of a JSON stream: its id and name, and the data's
// type, member name and text.
type frame struct {
	ID   uint64
	Name string // "" for a history event
	Type string
	Who  string
	Text string
}

// jsonStream reads a room's JSON event stream in the background.
type jsonStream struct {
	resp   *http.Response
	frames chan frame
}

// openJSONStream opens base's stream of room as JSON, resuming after
// lastID when it is not 0.
func openJSONStream(t *testing.T, base, room string, lastID uint64) *jsonStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/rooms/"+room+"/events?format=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(lastID, 10))
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s's stream: %s", room, resp.Status)
	}
	s := &jsonStream{resp: resp, frames: make(chan frame, 100000)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.frames)
		lines := bufio.NewScanner(resp.Body)
		var f frame
		for lines.Scan() {
			line := lines.Text()
			switch {
			case line == "":
				if f.ID != 0 || f.Type != "" {
					s.frames <- f
				}
				f = frame{}
			case strings.HasPrefix(line, "id: "):
				f.ID, _ = strconv.ParseUint(line[len("id: "):], 10, 64)
			case strings.HasPrefix(line, "event: "):
				f.Name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				var d struct {
					Type   string
					Text   string
					Member struct{ Name string }
				}
				if err := json.Unmarshal([]byte(line[len("data: "):]), &d); err == nil {
					f.Type, f.Text, f.Who = d.Type, d.Text, d.Member.Name
				}
			}
		}
	}()
	return s
}

// until collects the stream's frames until ok says it has what it needs,
// and returns them all; it fails the test if the stream ends or nothing
// satisfies ok within a minute.
func (s *jsonStream) until(t *testing.T, what string, ok func([]frame) bool) []frame {
	t.Helper()
	var got []frame
	timeout := time.After(time.Minute)
	for !ok(got) {
		select {
		case f, open := <-s.frames:
			if !open {
				t.Fatalf("the stream ended before %s, after %d frames", what, len(got))
			}
			got = append(got, f)
		case <-timeout:
			t.Fatalf("no %s after a minute; got %d frames, last %+v", what, len(got), last(got))
		}
	}
	return got
}

// rest returns the frames the stream had until it ended.
func (s *jsonStream) rest(t *testing.T) []frame {
	t.Helper()
	var got []frame
	timeout := time.After(time.Minute)
	for {
		select {
		case f, open := <-s.frames:
			if !open {
				return got
			}
			got = append(got, f)
		case <-timeout:
			t.Fatalf("the stream did not end within a minute of its server's death")
		}
	}
}

func last(fs []frame) frame {
	if len(fs) == 0 {
		return frame{}
	}
	return fs[len(fs)-1]
}

// history keeps the history events (joins, leaves, messages) of frames.
func history(fs []frame) []frame {
	var out []frame
	for _, f := range fs {
		if f.Name == "" {
			out = append(out, f)
		}
	}
	return out
}

// hasText says whether frames hold the message text.
func hasText(text string) func([]frame) bool {
	return func(fs []frame) bool {
		for _, f := range fs {
			if f.Text == text {
				return true
			}
		}
		return false
	}
}

// checkRun fails t unless events have consecutive ids from first: no gap,
// no repeat, in order.
func checkRun(t *testing.T, who string, events []frame, first uint64) {
	t.Helper()
	for i, f := range events {
		if want := first + uint64(i); f.ID != want {
			t.Fatalf("%s: event %d has id %d, want %d (a gap, a repeat or a reorder); around it: %+v",
				who, i, f.ID, want, events[max(0, i-2):min(len(events), i+3)])
		}
	}
}

// postBot posts text as the bot with token; it returns the event's id and
// the status (0 when the node could not be reached).
func postBot(base, room, token, text string) (uint64, int) {
	req, _ := http.NewRequest(http.MethodPost, base+"/rooms/"+room+"/messages", strings.NewReader(url.Values{"text": {text}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", strings.ReplaceAll(text, " ", "_")) // the client message id: a resend is stored once
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var posted struct{ ID uint64 }
	_ = json.NewDecoder(resp.Body).Decode(&posted)
	return posted.ID, resp.StatusCode
}

// cookieClient is a client with a cookie jar that does not follow redirects.
func cookieClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// joinForm joins room as name through the join form, as a browser does,
// and returns the status and the redirect's Location.
func joinForm(t *testing.T, c *http.Client, base, room, name string) (int, string) {
	t.Helper()
	resp, err := c.PostForm(base+"/join", url.Values{"room": {room}, "username": {name}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// postForm posts text as member m through the room's form, as a browser
// without script does (a post is answered 303 back to the room), and
// returns the status.
func postForm(t *testing.T, c *http.Client, base, room, m, text string) int {
	t.Helper()
	resp, err := c.PostForm(base+"/rooms/"+url.PathEscape(room)+"/messages", url.Values{"text": {text}, "m": {m}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// shareCookies makes c send its cookies for from's host to to's as well:
// every node is one site behind a balancer, here three ports of one host.
func shareCookies(t *testing.T, c *http.Client, from, to string) {
	t.Helper()
	fu, _ := url.Parse(from)
	tu, _ := url.Parse(to)
	c.Jar.SetCookies(tu, c.Jar.Cookies(fu))
}

func waitReady(t *testing.T, base string, ready bool) {
	t.Helper()
	want := http.StatusServiceUnavailable
	if ready {
		want = http.StatusOK
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz never answered %d", base, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterOfProcesses runs one nats-server and three nodes and checks the
// issue's list: posts from two nodes read on a third, live and by resume,
// as one gap-free, duplicate-free run; a node killed mid-stream, its readers
// resuming on another; name races across nodes; a session cookie and a bot
// token from one node honoured on another; and NATS restarted with memory
// storage, which readers learn by a reset, never a silent gap.
func TestClusterOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs four processes")
	}
	if runtime.GOOS == "windows" {
		t.Skip("kills processes with signals")
	}
	natsBin, err := builtNATS()
	if err != nil {
		t.Fatal(err)
	}
	ns := startNATS(t, natsBin, "127.0.0.1:0")
	keyFile, _ := makeKeyFile(t, t.TempDir(), "master.key")
	n1 := startNode(t, "node1", ns.url(), keyFile, "--metrics-addr", "127.0.0.1:0")
	n2 := startNode(t, "node2", ns.url(), keyFile)
	n3 := startNode(t, "node3", ns.url(), keyFile)

	const room = "lobby.main" // a '.', which a subject would split on
	var joinID uint64         // the room's first event
	var tokA string           // a bot's token, joined on node 1
	var newest uint64         // the room's newest event after the posts

	t.Run("posts from two nodes, read on a third live and by resume; a killed node's readers resume elsewhere", func(t *testing.T) {
		// Readers wait for the room before it exists, on the third node
		// and on the one that will die.
		live3 := openJSONStream(t, n3.base, room, 0)
		live2 := openJSONStream(t, n2.base, room, 0)
		tokA = joinBot(t, n1.base, room, "ann")
		tokB := joinBot(t, n2.base, room, "ben")

		// ben posts on node 2 and kills it after 30 posts, mid-stream; ann
		// posts on node 1 all along, and 20 more after the kill.
		const beforeKill, afterKill = 30, 20
		var mu sync.Mutex
		posted := map[string]uint64{} // text → id, for every post answered 201
		var refused atomic.Int64      // 503s, sent again
		var wg sync.WaitGroup
		killed := make(chan struct{})
		var kill sync.Once
		killNode2 := func() {
			kill.Do(func() {
				n2.kill()
				close(killed)
			})
		}
		// post sends one post and keeps its id; false if it failed.
		post := func(base, token, text string) bool {
			id, status := postBot(base, room, token, text)
			// A post that lost too many races is refused with 503; the bot
			// sends it again under the same client id, as a bot should,
			// and it is stored once.
			for try := 0; status == http.StatusServiceUnavailable && try < 5; try++ {
				refused.Add(1)
				time.Sleep(100 * time.Millisecond)
				id, status = postBot(base, room, token, text)
			}
			if status != http.StatusCreated {
				t.Errorf("post %s on %s: status %d", text, base, status)
				return false
			}
			mu.Lock()
			posted[text] = id
			mu.Unlock()
			return true
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer killNode2() // also if a post failed
			for i := range beforeKill {
				if !post(n2.base, tokB, fmt.Sprintf("ben-%d", i)) {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			extra := 0
			for i := 0; extra < afterKill; i++ {
				select {
				case <-killed:
					extra++
				default:
				}
				if !post(n1.base, tokA, fmt.Sprintf("ann-%d", i)) {
					return
				}
			}
		}()
		<-killed
		// Node 2's reader was cut mid-stream: it resumes on node 3 from the
		// last event it was sent.
		before := history(live2.rest(t))
		if len(before) == 0 {
			t.Fatal("node 2's reader was sent nothing before node 2 died")
		}
		joinID = before[0].ID
		resumed := openJSONStream(t, n3.base, room, last(before).ID)
		wg.Wait()
		if t.Failed() {
			return
		}
		// ann's posts went on on node 1 after node 2 died; one more from
		// node 3 with ann's token (a bot's token from node 1) ends the run.
		id, status := postBot(n3.base, room, tokA, "end")
		if status != http.StatusCreated {
			t.Fatalf("ann's token on node 3: status %d", status)
		}
		posted["end"] = id
		newest = id

		all := history(live3.until(t, "the last post on node 3's live reader", hasText("end")))
		checkRun(t, "node 3's live reader", all, joinID)
		after := history(resumed.until(t, "the last post on the resumed reader", hasText("end")))
		checkRun(t, "node 2's reader, then node 3 by resume", append(before, after...), joinID)
		// A reader on node 1 resuming from the room's first event.
		fromStart := history(openJSONStream(t, n1.base, room, joinID).until(t, "the last post by resume on node 1", hasText("end")))
		checkRun(t, "a reader resuming on node 1", fromStart, joinID+1)

		// Every post answered 201 is there once, under the id it was given.
		seen := map[string]uint64{}
		for _, f := range all {
			if f.Type == "message" {
				if _, dup := seen[f.Text]; dup {
					t.Errorf("%q delivered twice", f.Text)
				}
				seen[f.Text] = f.ID
			}
		}
		for text, id := range posted {
			if seen[text] != id {
				t.Errorf("post %q answered id %d, delivered as %d", text, id, seen[text])
			}
		}
		if len(posted) < beforeKill+afterKill+1 {
			t.Errorf("only %d posts were answered 201", len(posted))
		}
		t.Logf("%d events from ids %d to %d; node 2 died after %d of its reader's events; %d posts refused with 503 and sent again",
			len(all), joinID, newest, len(before), refused.Load())
	})
	if t.Failed() {
		return
	}

	t.Run("two nodes race to seat one name, or look-alikes", func(t *testing.T) {
		for i, pair := range [][2]string{
			{"alice", "alice"}, {"bob", "BOB"}, {"carol", "caroI"}, // the last with a capital I for the l
			{"dave", "dave"}, {"erin", "erin"},
		} {
			var wg sync.WaitGroup
			status := make([]int, 2)
			for j, base := range []string{n1.base, n3.base} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status[j], _ = joinForm(t, cookieClient(t), base, "race", pair[j])
				}()
			}
			wg.Wait()
			won := 0
			for _, s := range status {
				switch s {
				case http.StatusSeeOther:
					won++
				case http.StatusConflict:
				default:
					t.Errorf("race %d: status %d", i, s)
				}
			}
			if won != 1 {
				t.Errorf("race %d (%q on node 1, %q on node 3): statuses %v, want one 303 and one 409", i, pair[0], pair[1], status)
			}
		}
	})

	t.Run("a live-only reader on a node new to the room gets only live events", func(t *testing.T) {
		tok := joinBot(t, n1.base, "fresh", "old")
		for i := range 3 {
			if _, status := postBot(n1.base, "fresh", tok, fmt.Sprintf("before-%d", i)); status != http.StatusCreated {
				t.Fatalf("post: %d", status)
			}
		}
		// Node 3 has never served the room: the reader makes it begin.
		r := openJSONStream(t, n3.base, "fresh", 0)
		// The stream's head is sent once the reader is subscribed; a post
		// after that is live for it.
		if _, status := postBot(n1.base, "fresh", tok, "live"); status != http.StatusCreated {
			t.Fatalf("post: %d", status)
		}
		got := history(r.until(t, "the live post", hasText("live")))
		if len(got) != 1 {
			t.Errorf("a reader that asked for live events only was sent %d history events: %+v", len(got), got)
		}
	})

	t.Run("node 1's metrics show its NATS figures", func(t *testing.T) {
		x := scrapeMetrics(t, n1.metrics)
		for _, k := range []string{
			"cloakroom_nats_connected", "cloakroom_nats_append_conflicts_total", "cloakroom_nats_state_conflicts_total",
			"cloakroom_nats_follow_pending", "cloakroom_nats_follow_resets_total{of=stream}", "cloakroom_nats_follow_resets_total{of=bucket}",
			"cloakroom_nats_watch_overflows_total",
		} {
			if _, ok := x.series[k]; !ok {
				t.Errorf("no %s in node 1's metrics", k)
			}
		}
		if v := x.series["cloakroom_nats_connected"]; v != 1 {
			t.Errorf("cloakroom_nats_connected = %v, want 1", v)
		}
		t.Logf("node 1: %v append conflicts, %v state conflicts, follow pending %v",
			x.series["cloakroom_nats_append_conflicts_total"], x.series["cloakroom_nats_state_conflicts_total"], x.series["cloakroom_nats_follow_pending"])
	})

	t.Run("a second node under a running node's name is refused", func(t *testing.T) {
		out, err := runToEnd(t, "--addr", "127.0.0.1:0", "--nats", ns.url(), "--master-key-file", keyFile, "--node", "node1")
		if err == nil || !strings.Contains(out, "--node node1: a running node already uses this name") {
			t.Errorf("exit %v, output:\n%s", err, out)
		}
	})

	c := cookieClient(t)
	var memberURL string
	t.Run("a session cookie from node 1 works on node 3", func(t *testing.T) {
		status, loc := joinForm(t, c, n1.base, room, "zoe")
		if status != http.StatusSeeOther {
			t.Fatalf("join on node 1: %d", status)
		}
		memberURL = loc
		shareCookies(t, c, n1.base, n3.base)
		resp, err := c.Get(n3.base + loc)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `name="text"`) {
			t.Fatalf("node 3's room page for node 1's member: %s, composer %v", resp.Status, strings.Contains(string(page), `name="text"`))
		}
		m := loc[strings.Index(loc, "m=")+2:]
		if status := postForm(t, c, n3.base, room, m, "from node 3"); status >= 400 {
			t.Fatalf("posting on node 3 with node 1's cookie: %d", status)
		}
		// Joining another room on node 3 renews the session: the member
		// on node 1's room still belongs to the browser.
		if status, _ := joinForm(t, c, n3.base, "second", "zoe"); status != http.StatusSeeOther {
			t.Fatalf("join on node 3: %d", status)
		}
		shareCookies(t, c, n3.base, n1.base)
		if status := postForm(t, c, n1.base, room, m, "after renewal"); status >= 400 {
			t.Fatalf("posting on node 1 after the session was renewed on node 3: %d", status)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("NATS restarted with memory storage: readers are reset, pages offer the name again", func(t *testing.T) {
		// Readers placed in the room (they resume from an id) on both
		// remaining nodes.
		r1 := openJSONStream(t, n1.base, room, newest)
		r3 := openJSONStream(t, n3.base, room, newest)
		r1.until(t, "the post after the renewal", hasText("after renewal"))
		r3.until(t, "the post after the renewal", hasText("after renewal"))

		ns.kill()
		waitReady(t, n1.base, false)
		// Without NATS a post is refused as a passing trouble, never as a
		// bad token: 503 with Retry-After.
		if _, status := postBot(n1.base, room, tokA, "while NATS is down"); status != http.StatusServiceUnavailable {
			t.Errorf("a post while NATS is down: status %d, want 503", status)
		}
		if v := scrapeMetrics(t, n1.metrics).series["cloakroom_nats_connected"]; v != 0 {
			t.Errorf("cloakroom_nats_connected = %v while NATS is down, want 0", v)
		}
		ns = startNATS(t, natsBin, ns.addr) // same address, empty store
		waitReady(t, n1.base, true)
		waitReady(t, n3.base, true)

		isReset := func(fs []frame) bool { return len(fs) > 0 && last(fs).Name == "reset" }
		for name, r := range map[string]*jsonStream{"node 1": r1, "node 3": r3} {
			got := r.until(t, "a reset", isReset)
			if h := history(got); len(h) > 0 {
				t.Errorf("%s's reader was sent %d history events between the loss and the reset: %+v", name, len(h), h)
			}
		}
		// The member's page, reloaded on the reset, sends the browser to
		// the join page with the name filled in.
		shareCookies(t, c, n1.base, n3.base)
		resp, err := c.Get(n3.base + memberURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/" || loc.Query().Get("username") != "zoe" || loc.Query().Get("room") != room {
			t.Errorf("the room page after the loss: %s to %q; want 303 to the join page with room %q and username zoe", resp.Status, resp.Header.Get("Location"), room)
		}
		// A bot's token died with its member, on the node it joined on and
		// on the others.
		for _, n := range []*nodeProcess{n1, n3} {
			if _, status := postBot(n.base, room, tokA, "old token"); status != http.StatusUnauthorized {
				t.Errorf("%s: a token from before the loss: status %d, want 401", n.name, status)
			}
		}
		// The room's next life: its readers follow it from its first event.
		tok := joinBot(t, n1.base, room, "ann")
		if _, status := postBot(n3.base, room, tok, "new life"); status != http.StatusCreated {
			t.Fatalf("post in the new life: %d", status)
		}
		for name, r := range map[string]*jsonStream{"node 1": r1, "node 3": r3} {
			got := r.until(t, "the new life's post", hasText("new life"))
			var resetAt int = -1
			for i, f := range got {
				if f.Name == "reset" {
					resetAt = i
				}
			}
			if resetAt < 0 {
				t.Fatalf("%s: no reset before the new life", name)
			}
			checkRun(t, name+" after the new life's reset", history(got[resetAt+1:]), got[resetAt].ID+1)
		}
	})

	t.Run("a node shuts down within its timeout while NATS is gone", func(t *testing.T) {
		ns.kill()
		waitReady(t, n3.base, false)
		if err := n3.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		start := time.Now()
		go func() { exited <- n3.cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v", err)
			}
			t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
		case <-time.After(5*time.Second + 5*time.Second): // --shutdown-timeout, and room to start
			t.Fatal("still running 10 s after SIGTERM, with --shutdown-timeout 5s")
		}
	})
}

// binaryCommand is the built binary with args, in an environment of its
// own (no CLOAKROOM_ variable of the test's), dying with the test process.
func binaryCommand(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	dieWithTest(cmd)
	return cmd
}

// runToEnd runs the built binary with args until it exits (a minute at
// most) and returns its output.
func runToEnd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := binaryCommand(t, args...)
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running a minute later:\n%s", out)
		return "", nil
	}
}
