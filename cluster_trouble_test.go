package main

import (
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A NATS server that stalls (here SIGSTOP: a long GC pause, a full disk,
// a network that drops packets without a reset) longer than a request's
// timeout makes each node's sweep fail on the rooms it serves. That is
// passing trouble, like a post's 503: the node must keep serving and go
// on once NATS answers again, not shut itself down (every node at once,
// since every node sweeps).
func TestNodeOutlivesStalledNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs two processes")
	}
	if runtime.GOOS == "windows" {
		t.Skip("stops processes with signals")
	}
	natsBin, err := builtNATS()
	if err != nil {
		t.Fatal(err)
	}
	ns := startNATS(t, natsBin, "127.0.0.1:0")
	keyFile, _ := makeKeyFile(t, t.TempDir(), "master.key")
	n1 := startNode(t, "node1", ns.url(), keyFile)
	const room = "stall"
	tok := joinBot(t, n1.base, room, "ann")
	if _, status := postBot(n1.base, room, tok, "before"); status != http.StatusCreated {
		t.Fatalf("post before the stall: %d", status)
	}

	if err := ns.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	cont := func() {
		if stopped {
			stopped = false
			_ = ns.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(cont)
	// The node's sweep runs every second and its reads of the room's
	// state time out (natslog.DefaultTimeout): wait for it to say so.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(n1.out.String(), "sweeping rooms") {
		if time.Now().After(deadline) {
			t.Fatalf("the node never reported its sweep failing; its log:\n%s", n1.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cont()

	// Once NATS answers again, the same node takes posts again (a 503 or
	// two while its connection catches up is what a bot resends).
	deadline = time.Now().Add(15 * time.Second)
	for {
		_, status := postBot(n1.base, room, tok, "after")
		if status == http.StatusCreated {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("post after the stall: status %d (0: the node is gone); its log:\n%s", status, n1.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(n1.out.String(), "shutting down") {
		t.Errorf("the node shut down over a NATS stall; its log:\n%s", n1.out)
	}
}
