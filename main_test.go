package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// runApp runs the real program on a free port and returns its base URL.
// Cleanup stops it and checks that it shut down cleanly.
func runApp(t *testing.T, args ...string) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, w, io.Discard)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("app did not start: %v (%v)", err, <-done)
	}
	go io.Copy(io.Discard, out)
	_, base, ok := strings.Cut(strings.TrimSpace(line), "listening on ")
	if !ok {
		cancel()
		t.Fatalf("unexpected first line %q", line)
	}
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("run did not return after its context ended")
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return base, stop
}

// Shutting down ends open event streams and returns promptly.
func TestRunShutsDownWithOpenStreams(t *testing.T) {
	base, stop := runApp(t)
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
		streams[i], err = http.Get(base + "/rooms/lobby/events?since=0")
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
	for i, s := range streams {
		if _, err := io.Copy(io.Discard, s.Body); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
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
