package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"go.uber.org/goleak"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary serve as Cloakroom itself, so a benchmark
// can measure the server in a process of its own; it serves with every
// per-client limit off, since all its load comes from one address.
func TestMain(m *testing.M) {
	if os.Getenv("CLOAKROOM_TEST_SERVE") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		err := run(ctx, append([]string{"--addr", "127.0.0.1:0"}, limitsOff...), func(string) string { return "" }, os.Stdout, io.Discard)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// goleak's Cleanup takes the place of its os.Exit, so it exits itself.
	// Pebble (acme_test.go) keeps its validation authority's task loop.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"), goleak.Cleanup(func(code int) {
		for _, dir := range []string{binaryDir, natsDir} {
			if dir != "" {
				os.RemoveAll(dir)
			}
		}
		os.Exit(code)
	}))
}

// spawnServer starts Cloakroom in a process of its own (this test binary,
// in the mode TestMain gives it) and returns the process and its base URL.
func spawnServer(tb testing.TB) (*exec.Cmd, string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CLOAKROOM_TEST_SERVE=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatal(err)
	}
	_, base, ok := strings.Cut(strings.TrimSpace(line), "listening on ")
	if !ok {
		tb.Fatalf("unexpected first line %q", line)
	}
	return cmd, base
}

// BenchmarkIdleStreamMemory opens 1000 idle event streams on a server in
// another process and reports how much its resident memory grew per stream.
func BenchmarkIdleStreamMemory(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	const n = 1000
	for range b.N {
		cmd, base := spawnServer(b)

		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
		open := func(i int) *http.Response {
			// Headers arrive only once the stream is registered.
			resp, err := client.Get(base + "/rooms/room" + strconv.Itoa(i%10) + "/events")
			if err != nil {
				b.Fatal(err)
			}
			return resp
		}
		warm := open(0) // the first stream pays for code and pools
		before := residentBytes(b, cmd.Process.Pid)
		resps := make([]*http.Response, n)
		for i := range resps {
			resps[i] = open(i)
		}
		after := residentBytes(b, cmd.Process.Pid)
		b.ReportMetric(float64(after-before)/n, "RSS-B/stream")

		for _, r := range append(resps, warm) {
			r.Body.Close()
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("server: %v", err)
		}
	}
}

func residentBytes(b *testing.B, pid int) int64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// settle is how long BenchmarkStreamsReturnMemory waits after the streams
// closed. The Go runtime collects an idle process's garbage every 2 minutes
// at the latest and returns freed memory to the system gradually after, so
// only a settle past that shows what is kept.
var settle = flag.Duration("settle", 5*time.Second, "BenchmarkStreamsReturnMemory: wait this long after the streams closed")

// BenchmarkStreamsReturnMemory opens 1000 streams to 1000 rooms nobody has
// made (streams wait for a room; they neither make nor keep one), closes
// them, and reports the server's resident memory before, while open, and
// -settle after they closed.
func BenchmarkStreamsReturnMemory(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	const n = 1000
	for range b.N {
		cmd, base := spawnServer(b)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
		open := func(i int) *http.Response {
			resp, err := client.Get(base + "/rooms/anon-" + strconv.Itoa(i) + "/events")
			if err != nil {
				b.Fatal(err)
			}
			return resp
		}
		open(n).Body.Close() // code and pools, as in BenchmarkIdleStreamMemory
		before := residentBytes(b, cmd.Process.Pid)
		resps := make([]*http.Response, n)
		for i := range resps {
			resps[i] = open(i)
		}
		during := residentBytes(b, cmd.Process.Pid)
		for _, r := range resps {
			r.Body.Close()
		}
		time.Sleep(*settle)
		after := residentBytes(b, cmd.Process.Pid)
		b.ReportMetric(float64(before)/(1<<20), "MiB-before")
		b.ReportMetric(float64(during)/(1<<20), "MiB-open")
		b.ReportMetric(float64(after)/(1<<20), "MiB-after")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("server: %v", err)
		}
	}
}
