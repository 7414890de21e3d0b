package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shutdownTimeout bounds how long run may take to return once its context
// ends (its own shutdown wait is 5 s).
const shutdownTimeout = 10 * time.Second

// limitsOff turns every per-client limit off, for a test that posts, joins
// or opens streams faster than one person would: every test's requests
// come from 127.0.0.1, one client.
var limitsOff = []string{"--client-streams", "0", "--client-joins", "0", "--member-post-rate", "0", "--client-post-rate", "0"}

// logBuffer keeps what a server writes, from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSpec says how startRun starts Cloakroom.
type startSpec struct {
	flags  []string            // after --addr 127.0.0.1:0
	getenv func(string) string // nil: an empty environment
	// until is called with each line run writes to stdout, in order, and
	// returns true at the last one the caller waits for; nil waits for
	// the line that says where it listens. run waits for each line to be
	// read, so the server is not serving while until runs.
	until func(line string) bool
}

// started is a Cloakroom that startRun started.
type started struct {
	base   string     // the main address's URL, from "listening on"
	stdout *logBuffer // every line written to stdout, those until saw included
	stderr *logBuffer // the log
	// stop stops it and returns what run returned; when the test ends, it
	// is stopped if it still runs, and run must have returned nil unless
	// the test called stop itself.
	stop func() error
}

// startRun runs Cloakroom on a free port of 127.0.0.1 as spec says.
func startRun(t *testing.T, spec startSpec) started {
	t.Helper()
	getenv := spec.getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := started{stdout: &logBuffer{}, stderr: &logBuffer{}}
	stdout, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"--addr", "127.0.0.1:0"}, spec.flags...), getenv, stdoutW, st.stderr)
		stdoutW.CloseWithError(fmt.Errorf("run returned: %v", err))
		done <- err
	}()

	lines := bufio.NewScanner(stdout)
	waited := false
	for !waited && lines.Scan() {
		line := lines.Text()
		fmt.Fprintln(st.stdout, line)
		if _, addr, ok := strings.Cut(line, "listening on "); ok {
			st.base = strings.TrimSpace(addr)
		}
		if spec.until != nil {
			waited = spec.until(line)
		} else {
			waited = st.base != ""
		}
	}
	if !waited {
		cancel()
		t.Fatalf("Cloakroom stopped before saying what was waited for: %v\nstdout:\n%s\nstderr:\n%s", lines.Err(), st.stdout, st.stderr)
	}
	// Keep reading stdout, so that a later line cannot block the program
	// on the pipe.
	go func() { _, _ = io.Copy(st.stdout, stdout) }()

	var once sync.Once
	var result error
	stoppedByTest := false
	stopOnce := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(shutdownTimeout):
				result = fmt.Errorf("run did not return within %v after its context ended", shutdownTimeout)
			}
		})
		return result
	}
	st.stop = func() error {
		stoppedByTest = true
		return stopOnce()
	}
	t.Cleanup(func() {
		if err := stopOnce(); err != nil && !stoppedByTest {
			t.Errorf("stopping Cloakroom: %v", err)
		}
	})
	return st
}

// startApp runs Cloakroom with flags and returns its base URL and its stop
// function (see startRun).
func startApp(t *testing.T, flags ...string) (base string, stop func() error) {
	t.Helper()
	st := startRun(t, startSpec{flags: flags})
	return st.base, st.stop
}

// Shutting down ends open event streams and returns promptly.
func TestRunShutsDownWithOpenStreams(t *testing.T) {
	base, stop := startApp(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(base+"/join", url.Values{"username": {"bot"}, "room": {"lobby"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("join: %d", resp.StatusCode)
	}

	streams := make([]*http.Response, 3)
	for i := range streams {
		streams[i], err = streamClient().Get(base + "/rooms/lobby/events?since=0")
		if err != nil {
			t.Fatal(err)
		}
		defer streams[i].Body.Close()
		// The join is in the backlog: the stream is fully set up.
		r := bufio.NewReader(streams[i].Body)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "id: ") {
			t.Fatalf("stream %d starts with %q, %v", i, line, err)
		}
	}

	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	// Each stream ends cleanly (the connection closed after what was
	// written), not with a reset, which is for readers cut off.
	for i, s := range streams {
		if _, err := io.Copy(io.Discard, s.Body); err != nil {
			t.Errorf("stream %d did not end cleanly: %v", i, err)
		}
	}
}

func TestParseOptions(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		addr    string
		history int
		away    time.Duration
		err     string
	}{
		{"defaults", nil, nil, "localhost:5000", 1000, 15 * time.Minute, ""},
		{"flags", []string{"--addr", ":8080", "--history", "50", "--away-timeout", "1m"}, nil, ":8080", 50, time.Minute, ""},
		{"environment", nil, map[string]string{"CLOAKROOM_ADDR": ":9000", "CLOAKROOM_HISTORY": "20"}, ":9000", 20, 15 * time.Minute, ""},
		{"a flag beats the environment", []string{"--addr", ":1"}, map[string]string{"CLOAKROOM_ADDR": ":2"}, ":1", 1000, 15 * time.Minute, ""},
		{"bad environment", nil, map[string]string{"CLOAKROOM_HISTORY": "many"}, "", 0, 0, "CLOAKROOM_HISTORY"},
		{"bad flag", []string{"--away-timeout", "soon"}, nil, "", 0, 0, "invalid value"},
		{"zero limit", []string{"--max-rooms", "0"}, nil, "", 0, 0, "must be positive"},
		{"stray argument", []string{"serve"}, nil, "", 0, 0, "unexpected argument"},
	}
	for _, tt := range tests {
		o, err := parseOptions(tt.args, env(tt.env), io.Discard)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || o.addr != tt.addr || o.history != tt.history || o.away != tt.away {
			t.Errorf("%s: %+v, %v; want addr %q history %d away %v", tt.name, o, err, tt.addr, tt.history, tt.away)
		}
	}
}

// SIGTERM ends the real process promptly and cleanly, open streams and all.
func TestSIGTERMEndsTheProcess(t *testing.T) {
	cmd, base := spawnServer(t)
	stream, err := streamClient().Get(base + "/rooms/lobby/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(shutdownTimeout):
		_ = cmd.Process.Kill()
		t.Fatal("still running after SIGTERM")
	}
	if _, err := io.Copy(io.Discard, stream.Body); isTimeout(err) {
		t.Fatalf("stream after SIGTERM did not end: %v", err)
	}
}

// streamClient gives up on a stream that has not ended well after the server
// should have closed it, so that a hang fails the test instead of stalling it.
func streamClient() *http.Client { return &http.Client{Timeout: 3 * shutdownTimeout} }

// isTimeout tells a stream that never ended from one that ended, cleanly or
// by a reset (either is an end).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// SIGTERM answers everyone: requests in flight get their answer, and
// requests that arrive during the drain get 503 with Connection: close
// (health checks too), after which the posting clients go elsewhere, as
// clients behind a balancer would. No post goes unanswered.
func TestShutdownAnswersEveryone(t *testing.T) {
	base, stop := startApp(t, append([]string{"--shutdown-drain", "300ms"}, limitsOff...)...) // 8 clients post as fast as they can
	const posters = 8
	type outcome struct {
		status int
		err    error
	}
	results := make(chan outcome, 100000)
	var wg sync.WaitGroup
	quit := make(chan struct{})
	for p := range posters {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		req, _ := http.NewRequest(http.MethodPost, base+"/join", strings.NewReader(url.Values{"username": {fmt.Sprint("poster", p)}, "room": {"lobby"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var joined struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&joined); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("join: %d %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, base+"/rooms/lobby/messages", strings.NewReader("text="+fmt.Sprint(i)))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Accept", "application/json")
				req.Header.Set("Authorization", "Bearer "+joined.Token)
				resp, err := client.Do(req)
				if err != nil {
					results <- outcome{err: err}
					if errors.Is(err, syscall.ECONNREFUSED) {
						return // the server no longer listens
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				results <- outcome{status: resp.StatusCode}
				if resp.StatusCode == http.StatusServiceUnavailable {
					return // as a client told the server is going, or its balancer
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // posts flowing
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// A health check during the drain sees the server going.
	healthz := 0
	for healthz != http.StatusServiceUnavailable {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatalf("health check during the drain: %v", err)
		}
		resp.Body.Close()
		healthz = resp.StatusCode
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run: %v", err)
	}
	close(quit)
	wg.Wait()
	close(results)
	counts := map[string]int{}
	for r := range results {
		switch {
		case r.err == nil:
			counts[fmt.Sprint(r.status)]++
		case errors.Is(r.err, syscall.ECONNREFUSED):
			counts["refused"]++
		default:
			counts["unanswered"]++
			t.Errorf("a post got no answer: %v", r.err)
		}
	}
	t.Logf("outcomes: %v", counts)
	if counts["201"] == 0 || counts["503"] == 0 {
		t.Errorf("outcomes %v: want posts answered 201 before the shutdown and 503 during the drain", counts)
	}
}
