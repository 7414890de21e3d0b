package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cliWait bounds how long a test waits for the command line's output.
const cliWait = 8 * time.Second

// output collects what a command writes, line by line, and lets a test wait
// for a condition on the lines so far.
type output struct {
	mu      sync.Mutex
	partial string
	lines   []string
	changed chan struct{} // a token whenever lines grow
}

func newOutput() *output { return &output{changed: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial += string(p)
	for {
		line, rest, ok := strings.Cut(o.partial, "\n")
		if !ok {
			break
		}
		o.lines, o.partial = append(o.lines, line), rest
	}
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (o *output) snapshot() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.lines)
}

// waitFor waits until ok holds for the lines written so far, and fails the
// test with them if that does not happen within cliWait.
func (o *output) waitFor(t *testing.T, what string, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.After(cliWait)
	for {
		lines := o.snapshot()
		if ok(lines) {
			return lines
		}
		select {
		case <-o.changed:
		case <-deadline:
			t.Fatalf("waited %v for %s; output so far:\n%s", cliWait, what, strings.Join(lines, "\n"))
		}
	}
}

// startTail runs `cloakroom tail ARGS` until the test ends, when it must
// return nil. It returns what tail writes to stdout and to stderr.
func startTail(t *testing.T, args ...string) (out, notices *output) {
	t.Helper()
	out, notices = newOutput(), newOutput()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"tail"}, args...), noEnv, out, notices) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tail returned %v", err)
			}
		case <-time.After(shutdownTimeout):
			t.Errorf("tail did not return within %v after its context ended", shutdownTimeout)
		}
	})
	return out, notices
}

// say runs `cloakroom say ARGS` and returns what run returned.
func say(args ...string) error {
	return run(context.Background(), append([]string{"say"}, args...), noEnv, io.Discard, io.Discard)
}

func noEnv(string) string { return "" }

// lineIndex is the index of the first line that matches re, or -1.
func lineIndex(lines []string, re *regexp.Regexp) int {
	return slices.IndexFunc(lines, re.MatchString)
}

// streamEvent is what these tests read of a JSON stream event.
type streamEvent struct {
	Type   string `json:"type"`
	Member struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	} `json:"member"`
	Text string `json:"text"`
}

func (e streamEvent) String() string {
	s := fmt.Sprintf("%s %s#%d", e.Type, e.Member.Name, e.Member.ID)
	if e.Type == "message" {
		s += ": " + e.Text
	}
	return s
}

// roomHistory reads the room's kept history events (JSON stream from the
// start) until it has n of them, summarised as streamEvent.String with each
// member numbered 1, 2, … in the order it first appears (member ids count
// up from the room's first event id, which comes from the clock).
func roomHistory(t *testing.T, base, room string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rooms/"+room+"/events?format=json&since=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []string
	nth := make(map[uint64]uint64) // member id → its place among the members seen
	sc := bufio.NewScanner(resp.Body)
	for len(got) < n && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e streamEvent
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event data %q: %v", data, err)
		}
		if e.Type != "presence" {
			if _, ok := nth[e.Member.ID]; !ok {
				nth[e.Member.ID] = uint64(len(nth) + 1)
			}
			e.Member.ID = nth[e.Member.ID]
			got = append(got, e.String())
		}
	}
	if len(got) < n {
		t.Fatalf("the room's history has %q, want %d events (%v)", got, n, sc.Err())
	}
	return got
}

// say joins once, reuses its token, and joins again once the server has
// forgotten its member; the token file is its owner's alone.
func TestSay(t *testing.T) {
	base, _ := startApp(t)
	dir := filepath.Join(t.TempDir(), "config")
	tokenFile := filepath.Join(dir, "token.json")
	sayAs := func(text string) error {
		return say("--server", base, "--token-file", tokenFile, "lobby", text)
	}

	if err := sayAs("hello"); err != nil {
		t.Fatalf("first say: %v", err)
	}
	if err := sayAs("again"); err != nil {
		t.Fatalf("second say: %v", err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{dir, os.ModeDir | 0o700}, {tokenFile, 0o600}} {
		if st, err := os.Stat(f.path); err != nil || st.Mode() != f.mode {
			t.Errorf("%s: %v, %v; want mode %v", f.path, st.Mode(), err, f.mode)
		}
	}
	var bot struct {
		Room   string `json:"room"`
		Member uint64 `json:"member"`
		Name   string `json:"name"`
		Token  string `json:"token"`
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil || json.Unmarshal(b, &bot) != nil || bot.Token == "" || bot.Room != "lobby" || bot.Name != "bot" {
		t.Fatalf("token file: %v, %+v", err, bot.Room+" "+bot.Name)
	}

	// The member leaves (as its token), so the kept token is refused (401).
	req, err := http.NewRequest(http.MethodPost, base+"/rooms/lobby/leave", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bot.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("leave: %s", resp.Status)
	}
	if err := sayAs("back"); err != nil {
		t.Fatalf("say after leaving: %v", err)
	}

	want := []string{
		"join bot#1", "message bot#1: hello", "message bot#1: again",
		"leave bot#1", "join bot#2", "message bot#2: back",
	}
	if diff := cmp.Diff(want, roomHistory(t, base, "lobby", len(want))); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}

	// Another bot file under the same name: the server's reason comes back.
	err = say("--server", base, "--token-file", filepath.Join(dir, "other.json"), "lobby", "hi")
	if err == nil || !strings.Contains(err.Error(), "That name is taken in this room.") {
		t.Errorf("say under a taken name: %v, want the server's sentence", err)
	}

	// Another name with the same file: the kept bot leaves first, so its
	// name is free for the next say under it.
	if err := say("--server", base, "--token-file", tokenFile, "--name", "scripter", "lobby", "hi"); err != nil {
		t.Fatalf("say as another name: %v", err)
	}
	if err := sayAs("back again"); err != nil {
		t.Fatalf("say under the first name again: %v", err)
	}
	want = append(want, "leave bot#2", "join scripter#3", "message scripter#3: hi",
		"leave scripter#3", "join bot#4", "message bot#4: back again")
	if diff := cmp.Diff(want, roomHistory(t, base, "lobby", len(want))); diff != "" {
		t.Errorf("history after a change of name (-want +got):\n%s", diff)
	}
}

// tail prints events as they come, in text and in JSON, one line per line of
// data.
func TestTail(t *testing.T) {
	tests := []struct {
		format string
		joined *regexp.Regexp // the bot's join
		posted []*regexp.Regexp
	}{
		{"text", regexp.MustCompile(`^\d\d:\d\d \* bot joined the room$`), []*regexp.Regexp{
			regexp.MustCompile(`^\d\d:\d\d bot: first line$`),
			regexp.MustCompile(`^  second line$`),
		}},
		{"json", regexp.MustCompile(`^\{"id":\d+,"type":"join",.*"name":"bot"`), []*regexp.Regexp{
			regexp.MustCompile(`^\{"id":\d+,"type":"message",.*"text":"first line\\nsecond line"`),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			base, _ := startApp(t)
			tokenFile := filepath.Join(t.TempDir(), "token.json")
			if err := say("--server", base, "--token-file", tokenFile, "lobby", "before"); err != nil {
				t.Fatal(err)
			}
			out, _ := startTail(t, "--server", base, "--format", tt.format, "--since", "0", "lobby")
			// The join came from the backlog: the stream is open.
			out.waitFor(t, "the join", func(l []string) bool { return lineIndex(l, tt.joined) >= 0 })

			if err := say("--server", base, "--token-file", tokenFile, "lobby", "first line\nsecond line"); err != nil {
				t.Fatal(err)
			}
			lines := out.waitFor(t, "the message", func(l []string) bool { return lineIndex(l, tt.posted[0]) >= 0 })
			at := lineIndex(lines, tt.posted[0])
			for i, re := range tt.posted[1:] {
				lines = out.waitFor(t, "the message's lines", func(l []string) bool { return len(l) > at+1+i })
				if !re.MatchString(lines[at+1+i]) {
					t.Errorf("line %d after the message is %q, want one matching %v", i+1, lines[at+1+i], re)
				}
			}
			if tt.format == "json" {
				for _, l := range lines {
					if !json.Valid([]byte(l)) {
						t.Errorf("not a JSON line: %q", l)
					}
				}
			}
		})
	}
}

// proxy forwards TCP connections to a target it can be pointed at, so that a
// client keeps one address while the server behind it is replaced (every
// server listens on a port of its own).
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// startProxy listens on a free port of 127.0.0.1 until the test ends.
func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: make(map[net.Conn]bool)}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) point(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

// forward joins c to a connection to the target until either side ends; a
// target that does not answer closes c, as a stopped server would.
func (p *proxy) forward(c net.Conn) {
	p.mu.Lock()
	target := p.target
	p.conns[c] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done // either side ending ends both: the other copy sees the close
	c.Close()
	s.Close()
	<-done
}

// tail follows a room across a server restart: it reconnects with the last id
// it saw, which the new server does not have, prints the reset notice and
// goes on with the new server's events, without repeating the old ones.
func TestTailResumesAcrossRestart(t *testing.T) {
	first, stopFirst := startApp(t)
	p := startProxy(t, strings.TrimPrefix(first, "http://"))
	tokenFile := filepath.Join(t.TempDir(), "token.json")
	if err := say("--server", p.url(), "--token-file", tokenFile, "lobby", "before the restart"); err != nil {
		t.Fatal(err)
	}
	out, notices := startTail(t, "--server", p.url(), "--since", "0", "lobby")
	before := regexp.MustCompile(`^\d\d:\d\d bot: before the restart$`)
	out.waitFor(t, "the first server's message", func(l []string) bool { return lineIndex(l, before) >= 0 })

	if err := stopFirst(); err != nil {
		t.Fatalf("stopping the first server: %v", err)
	}
	second, _ := startApp(t)
	p.point(strings.TrimPrefix(second, "http://"))
	// The kept token is the first server's: say joins the new one again.
	if err := say("--server", p.url(), "--token-file", tokenFile, "lobby", "after the restart"); err != nil {
		t.Fatal(err)
	}
	after := regexp.MustCompile(`^\d\d:\d\d bot: after the restart$`)
	lines := out.waitFor(t, "the second server's message", func(l []string) bool { return lineIndex(l, after) >= 0 })

	reset := regexp.MustCompile(`^Your place in this room's history is gone`)
	var order []string
	for _, l := range lines {
		for _, re := range []*regexp.Regexp{before, reset, after} {
			if re.MatchString(l) {
				order = append(order, re.String())
			}
		}
	}
	if diff := cmp.Diff([]string{before.String(), reset.String(), after.String()}, order); diff != "" {
		t.Errorf("order of what tail printed (-want +got):\n%s\nall of it:\n%s", diff, strings.Join(lines, "\n"))
	}
	// The lost connection was told on stderr, and none of it on stdout.
	notices.waitFor(t, "a notice of the lost stream", func(l []string) bool {
		return slices.ContainsFunc(l, func(s string) bool { return strings.HasPrefix(s, "cloakroom tail: ") })
	})
	if i := slices.IndexFunc(lines, func(s string) bool { return strings.HasPrefix(s, "cloakroom tail: ") }); i >= 0 {
		t.Errorf("a notice on stdout: %q", lines[i])
	}
}

// The commands' own mistakes and the server's refusals end them with a
// reason.
func TestCommandErrors(t *testing.T) {
	base, _ := startApp(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"tail without a room", []string{"tail", "--server", base}, "tail needs ROOM"},
		{"tail in an unknown format", []string{"tail", "--server", base, "--format", "xml", "lobby"}, "--format must be text or json"},
		{"tail of an invalid room", []string{"tail", "--server", base, "BAD ROOM"}, "400 Bad Request: Room names are"},
		{"tail from a non-HTTP server", []string{"tail", "--server", "ftp://x", "lobby"}, "--server must be"},
		{"say without text", []string{"say", "--server", base, "lobby"}, "say needs ROOM and TEXT"},
		{"say to an invalid room", []string{"say", "--server", base, "--token-file", filepath.Join(t.TempDir(), "t"), "a/b", "hi"}, "a room name is"},
		{"say nothing", []string{"say", "--server", base, "--token-file", filepath.Join(t.TempDir(), "t"), "lobby", " "}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), cliWait)
			defer cancel()
			err := run(ctx, tt.args, noEnv, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// tail reads an event larger than r3labs/sse's default 64 KiB cap: a live join
// in JSON carries the whole member list, here of 700 members with long names.
func TestTailReadsALargeEvent(t *testing.T) {
	const members = 700
	base, _ := startApp(t, append([]string{"--max-members", fmt.Sprint(members + 1)}, limitsOff...)...)
	join := func(name string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/join", strings.NewReader(url.Values{"username": {name}, "room": {"big"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("join as %s: %s", name, resp.Status)
		}
	}
	long := strings.Repeat("語", 28) // 84 bytes of UTF-8
	for i := range members {
		join(fmt.Sprintf("%s%04d", long, i))
	}
	out, _ := startTail(t, "--server", base, "--format", "json", "--since", "0", "big")
	lastJoin := regexp.MustCompile(fmt.Sprintf(`"name":"%s%04d"`, long, members-1))
	out.waitFor(t, "the backlog", func(l []string) bool { return lineIndex(l, lastJoin) >= 0 })

	join("late")
	late := regexp.MustCompile(`^\{"id":\d+,"type":"join",.*"name":"late"`)
	lines := out.waitFor(t, "the live join", func(l []string) bool { return lineIndex(l, late) >= 0 })
	line := lines[lineIndex(lines, late)]
	var e struct {
		Members []struct {
			Name string `json:"name"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(line), &e); err != nil || len(e.Members) != members+1 {
		t.Fatalf("the live join (%d bytes): %d members, %v; want %d", len(line), len(e.Members), err, members+1)
	}
	if len(line) <= 64<<10 {
		t.Fatalf("the live join is %d bytes: the test no longer exceeds the 64 KiB default", len(line))
	}
}

// Asking a command for its usage is no failure.
func TestCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"tail", "--help"}, {"say", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stderr strings.Builder
			if err := run(context.Background(), args, noEnv, io.Discard, &stderr); err != nil {
				t.Fatalf("error %v", err)
			}
			if !strings.Contains(stderr.String(), "usage: cloakroom "+args[0]) {
				t.Errorf("no usage printed:\n%s", stderr.String())
			}
		})
	}
}
