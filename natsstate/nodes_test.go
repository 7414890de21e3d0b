package natsstate

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

// nodesTTL is short: Alive goes by the server's clock, which only real time
// moves.
const nodesTTL = 300 * time.Millisecond

// pollAlive calls step and then s.Alive every 20 ms until Alive knows and
// returns want; it fails the test after 10 s.
func pollAlive(t *testing.T, s *Store, want map[string]bool, step func() error) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	var got map[string]bool
	var known bool
	for {
		err := step()
		if err == nil {
			got, known, err = s.Alive(time.Time{}, nodesTTL)
		}
		if err == nil && known && cmp.Equal(got, want) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("alive %v (known %v, last error %v), want %v", got, known, err, want)
		}
	}
}

func beats(s *Store, nodes ...string) func() error {
	return func() error {
		for _, n := range nodes {
			if err := s.Beat(n, time.Time{}); err != nil {
				return err
			}
		}
		return nil
	}
}

// Two stores on their own connections see each other's beats; a name's
// newest run replaces its former one; a node that stops beating is not
// alive once another's beats are the TTL newer (on the server's clock).
func TestNodeBeats(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	box := newBox(t)
	a := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	b := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	if _, known, err := a.Alive(time.Time{}, nodesTTL); err != nil || known {
		t.Errorf("Alive before the watcher read the bucket: known %v, %v; want not known", known, err)
	}
	pollAlive(t, a, map[string]bool{"a/1": true, "b/1": true}, func() error {
		return errors.Join(a.Beat("a/1", time.Time{}), b.Beat("b/1", time.Time{}))
	})
	pollAlive(t, a, map[string]bool{"a/1": true, "b/2": true}, beats(b, "b/2"))
	pollAlive(t, a, map[string]bool{"a/1": true}, beats(a, "a/1"))
}

func TestNodeNames(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	s := newStore(t, natstest.Connect(t, srv), newBox(t), natslog.Memory)
	for _, node := range []string{"a", "a/", "/1", "a.b/1", "a/1.2", "a>/1", "*/1", "a b/1"} {
		t.Run(node, func(t *testing.T) {
			if err := s.Beat(node, time.Time{}); !errors.Is(err, chat.ErrNodeName) {
				t.Errorf("Beat(%q): %v, want %v", node, err, chat.ErrNodeName)
			}
		})
	}
}

// What NATS sees of a node: its name in the key, its name and run in the
// value; nothing else.
func TestNodeKeys(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, srv)
	s := newStore(t, nc, newBox(t), natslog.Memory)
	if err := s.Beat("eu-1/5f0c", time.Time{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "node.eu-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(e.Value()); got != "eu-1/5f0c" {
		t.Errorf("node.eu-1 holds %q, want eu-1/5f0c", got)
	}
}

// After a NATS restart with memory storage, the bucket is made again by
// the next beat, and the watcher, silent on the lost one, is started
// afresh: the stores see each other's beats again.
func TestNodesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.Start(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	box := newBox(t)
	a := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	b := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	both := func() error { return errors.Join(a.Beat("a/1", time.Time{}), b.Beat("b/1", time.Time{})) }
	pollAlive(t, a, map[string]bool{"a/1": true, "b/1": true}, both)
	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.Start(t, dir, port)
	pollAlive(t, a, map[string]bool{"a/2": true, "b/2": true}, func() error {
		return errors.Join(a.Beat("a/2", time.Time{}), b.Beat("b/2", time.Time{}))
	})
}

// A node's key goes once it has not beaten for nodeKeyTTL.
func TestNodeKeyExpires(t *testing.T) {
	defer func(d time.Duration) { nodeKeyTTL = d }(nodeKeyTTL)
	nodeKeyTTL = time.Second // the server's TTLs count in whole seconds
	srv := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, srv)
	s := newStore(t, nc, newBox(t), natslog.Memory)
	if err := s.Beat("gone/1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		_, err := kv.Get(context.Background(), "node.gone")
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("node.gone still there 10 s after its last beat: %v", err)
		}
	}
	pollAlive(t, s, map[string]bool{}, func() error { return nil })
}

// NodeInUse tells a name a running node beats under from one nobody uses
// and from one whose node stopped beating (a crash, restarted at once).
func TestNodeInUse(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	box := newBox(t)
	running := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	crashed := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	starting := newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
	if err := crashed.Beat("gone/run1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := running.Beat("busy/run1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		for {
			if err := running.Beat("busy/run1", time.Time{}); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	defer func() {
		close(stop)
		<-beating
	}()
	const wait = time.Second
	for _, tt := range []struct {
		name  string
		inUse bool
	}{
		{"busy", true},
		{"gone", false},
		{"never", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := starting.NodeInUse(context.Background(), tt.name, wait)
			if err != nil || got != tt.inUse {
				t.Fatalf("NodeInUse(%q) = %v, %v; want %v", tt.name, got, err, tt.inUse)
			}
		})
	}
}
