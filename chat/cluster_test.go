package chat

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/crypto"
	"github.com/google/go-cmp/cmp"
)

// A cluster is several Hubs in one process sharing one log and one state
// store, as nodes share NATS: each with its own Box made from the one key,
// and its own feed.
type cluster struct {
	log   Log
	state StateStore
	clk   *clock
	nodes []*node
}

// A node is one Hub of a cluster and what it published.
type node struct {
	hub *Hub
	mu  sync.Mutex
	got []Delivery
	ch  chan struct{} // closed and replaced at each delivery
}

func (n *node) publish(d Delivery) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, d)
	close(n.ch)
	n.ch = make(chan struct{})
}

// waitFor waits until the deliveries of kind that n published satisfy ok,
// and returns them; it fails the test after 10 s.
func (n *node) waitFor(t *testing.T, kind Kind, ok func([]Delivery) bool) []Delivery {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		n.mu.Lock()
		var got []Delivery
		for _, d := range n.got {
			if d.Event.Kind == kind {
				got = append(got, d)
			}
		}
		ch := n.ch
		n.mu.Unlock()
		if ok(got) {
			return got
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("gave up waiting; published %d events of kind %v: %+v", len(got), kind, got)
		}
	}
}

func atLeast(n int) func([]Delivery) bool {
	return func(ds []Delivery) bool { return len(ds) >= n }
}

// newCluster starts n hubs over log and state (shared by them all).
func newCluster(t *testing.T, n int, log Log, state StateStore, cfg Config) *cluster {
	t.Helper()
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{log: log, state: state, clk: &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}}
	for i := range n {
		box, err := crypto.NewBox(key)
		if err != nil {
			t.Fatal(err)
		}
		nd := &node{ch: make(chan struct{})}
		cfg := cfg
		cfg.Log, cfg.State, cfg.Shared = log, state, true
		cfg.Node = string(rune('a' + i))
		cfg.Now = c.clk.Now
		nd.hub = NewHub(box, cfg, nd.publish, nil)
		t.Cleanup(nd.hub.Close)
		c.nodes = append(c.nodes, nd)
	}
	return c
}

// logEvents returns the events of the room's log, opened by hub h, as
// kind/name pairs, and checks that their ids are consecutive.
func logEvents(t *testing.T, h *Hub, room string) []string {
	t.Helper()
	recs, err := h.log.Read(room, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, rec := range recs {
		if i > 0 && rec.ID != recs[i-1].ID+1 {
			t.Errorf("record %d follows %d", rec.ID, recs[i-1].ID)
		}
		ev, err := h.open(room, rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kindWords[ev.Kind]+" "+ev.Name)
	}
	return out
}

var kindWords = map[Kind]string{KindMessage: "message", KindJoin: "join", KindLeave: "leave"}

func memoryBackends() (Log, StateStore) { return NewMemoryLog(100), NewMemoryStateStore() }

// TestCluster runs the multi-node table over shared in-memory backends.
func TestCluster(t *testing.T) { testCluster(t, memoryBackends) }

func testCluster(t *testing.T, backends func() (Log, StateStore)) {
	tests := []struct {
		name string
		run  func(t *testing.T, c *cluster)
	}{
		{"join on one node, post on another", testJoinHerePostThere},
		{"two nodes race to seat one name", testNameRace},
		{"a leave is announced once", testLeaveOnce},
		{"a room dropped on one node begins above its floor on another", testDropThenBegin},
		{"a crashed node's pending join is repaired once", testRepairCrashedJoin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, s := backends()
			tt.run(t, newCluster(t, 2, l, s, Config{}))
		})
	}
}

func testJoinHerePostThere(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	posted, err := b.hub.Post("browser-a", "lobby", alice.ID, "hello from b", "")
	if err != nil {
		t.Fatalf("Post on the other node: %v", err)
	}
	joins := a.waitFor(t, KindJoin, atLeast(1))
	msgs := a.waitFor(t, KindMessage, atLeast(1))
	if got, want := msgs[0].Event.ID, joins[0].Event.ID+1; got != want || posted.ID != want {
		t.Errorf("message ids: published %d, posted %d; want %d, after the join", got, posted.ID, want)
	}
	if diff := cmp.Diff([]Member{{ID: alice.ID, Name: "alice", State: Online}}, joins[0].Members); diff != "" {
		t.Errorf("the join's member list (-want +got):\n%s", diff)
	}
	// The other node's readers see the same two events, in the same order.
	bm := b.waitFor(t, KindMessage, atLeast(1))
	bj := b.waitFor(t, KindJoin, atLeast(1))
	if diff := cmp.Diff([]uint64{joins[0].Event.ID, msgs[0].Event.ID}, []uint64{bj[0].Event.ID, bm[0].Event.ID}); diff != "" {
		t.Errorf("ids on the other node (-a +b):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"join alice", "message alice"}, logEvents(t, a.hub, "lobby")); diff != "" {
		t.Errorf("the log (-want +got):\n%s", diff)
	}
}

func testNameRace(t *testing.T, c *cluster) {
	// The room lives first, so both nodes decide on the same life.
	mustJoin(t, c.nodes[0].hub, "browser-x", "lobby", "xavier")
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, n := range c.nodes {
		wg.Go(func() {
			<-start
			_, errs[i] = n.hub.Join("browser-"+string(rune('a'+i)), "lobby", "alice")
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrNameTaken):
			t.Errorf("a losing Join: %v, want %v", err, ErrNameTaken)
		}
	}
	if won != 1 {
		t.Errorf("%d nodes seated alice, want 1 (errors %v)", won, errs)
	}
	if diff := cmp.Diff([]string{"join xavier", "join alice"}, logEvents(t, c.nodes[0].hub, "lobby")); diff != "" {
		t.Errorf("the log (-want +got):\n%s", diff)
	}
}

func testLeaveOnce(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	must(t, b.hub.Leave("browser-a", "lobby", alice.ID))
	if err := a.hub.Leave("browser-a", "lobby", alice.ID); !errors.Is(err, ErrNotMember) {
		t.Errorf("leaving again on the first node: %v, want %v", err, ErrNotMember)
	}
	for _, n := range c.nodes {
		leaves := n.waitFor(t, KindLeave, atLeast(1))
		if len(leaves[0].Members) != 0 {
			t.Errorf("members after the leave: %+v, want none", leaves[0].Members)
		}
	}
	if diff := cmp.Diff([]string{"join alice", "leave alice"}, logEvents(t, a.hub, "lobby")); diff != "" {
		t.Errorf("the log (-want +got):\n%s", diff)
	}
}

func testDropThenBegin(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	last, err := a.hub.Post("browser-a", "lobby", alice.ID, "last words", "")
	if err != nil {
		t.Fatal(err)
	}
	must(t, a.hub.Leave("browser-a", "lobby", alice.ID))
	// A reader on the other node makes it serve the room too.
	detach, err := b.hub.Attach("reader", "lobby")
	must(t, err)
	defer detach()
	b.waitFor(t, KindLeave, atLeast(1))
	c.clk.Add(DefaultRoomIdle)
	must(t, a.hub.Sweep())
	if a.hub.Rooms() != 0 {
		t.Fatalf("the first node still serves %d rooms after the idle time", a.hub.Rooms())
	}
	s, _, err := c.state.Load("lobby")
	if err != nil {
		t.Fatal(err)
	}
	if s.Live() || s.Floor <= last.ID {
		t.Fatalf("state after the drop: live %v, floor %d; want a tombstone with floor ≥ %d", s.Live(), s.Floor, last.ID+1)
	}
	// The clock has not moved on: only the floor keeps the next life above.
	bob := mustJoin(t, b.hub, "browser-b", "lobby", "bob")
	resets := b.waitFor(t, KindReset, func(ds []Delivery) bool { return len(ds) > 0 && ds[len(ds)-1].Event.ID > last.ID })
	joins := b.waitFor(t, KindJoin, atLeast(2))
	if first := joins[1].Event.ID; first <= last.ID || joins[1].Event.Member != bob.ID {
		t.Errorf("the next life's first event is %d (member %d), want above %d (member %d)", first, joins[1].Event.Member, last.ID, bob.ID)
	}
	if r := resets[len(resets)-1].Event.ID; r != joins[1].Event.ID-1 {
		t.Errorf("the new life's reset is at %d, want %d", r, joins[1].Event.ID-1)
	}
}

func testRepairCrashedJoin(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	mustJoin(t, b.hub, "browser-b", "lobby", "bob")
	// A third node seats carol and dies before appending her join.
	_, _, err := UpdateState(c.state, "lobby", func(s *RoomState) error {
		_, err := s.Seat("browser-c", "carol", Digest{}, c.clk.Now(), StateLimits{MaxMembers: 10, MaxOwnNames: 1})
		return err
	})
	must(t, err)
	must(t, a.hub.Sweep())
	if got := logEvents(t, a.hub, "lobby"); len(got) != 2 {
		t.Fatalf("a pending join was repaired within the grace: %v", got)
	}
	c.clk.Add(DefaultRepairGrace)
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() {
			if err := n.hub.Sweep(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff([]string{"join alice", "join bob", "join carol"}, logEvents(t, a.hub, "lobby")); diff != "" {
		t.Errorf("the log (-want +got):\n%s", diff)
	}
	s, _, err := c.state.Load("lobby")
	must(t, err)
	if len(s.Pending) != 0 {
		t.Errorf("pending after the repair: %+v", s.Pending)
	}
	for _, n := range c.nodes {
		n.waitFor(t, KindJoin, atLeast(3))
	}
}
