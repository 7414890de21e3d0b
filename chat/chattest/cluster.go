package chattest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/google/go-cmp/cmp"
)

// NewBackends returns the log and the state stores of n nodes that share
// them: the same Log and StateStore for every node in memory, or one
// connection per node to a shared server. TestCluster calls it once per
// subtest.
type NewBackends func(t *testing.T, n int) (logs []chat.Log, states []chat.StateStore)

// TestCluster runs Hubs of several nodes over shared backends (Config.Shared)
// and checks that they behave as one chat: a member joined on one node
// posts on another and every node publishes both events in order with
// consecutive ids; two nodes racing to seat one name seat it once; a leave
// is announced once; a room dropped on one node begins its next life above
// its floor on another; and a join left pending by a node that crashed
// before appending it is appended once, by the others, after the repair
// grace; a bot's secret works on every node serving its room; the
// member list other nodes' readers are sent follows the shared state; and
// a browser's session renewal on one node moves its members in rooms only
// other nodes serve, through the owner index (the first node's StateStore
// must be a chat.OwnerIndex too). On stores that are a chat.NodeRegistry,
// a node that crashed stops keeping its members present once the others
// find it has not beaten for the node TTL, a node that beats is never
// taken for dead, and a node named what chat.CheckNode refuses fails its
// Sweep.
func TestCluster(t *testing.T, newBackends NewBackends) {
	tests := []struct {
		name  string
		nodes int // 2 if 0
		run   func(t *testing.T, c *cluster)
	}{
		{"join on one node, post on another", 0, testJoinHerePostThere},
		{"two nodes race to seat one name", 0, testNameRace},
		{"a leave is announced once", 0, testLeaveOnce},
		{"a room dropped on one node begins above its floor on another", 0, testDropThenBegin},
		{"a drop on one node racing a join on another", 0, testDropRacesJoin},
		{"a crashed node's pending join is repaired once", 0, testRepairCrashedJoin},
		{"a bot's secret works on another node", 0, testBearerThere},
		{"presence decided on one node reaches the other's readers", 0, testPresenceThere},
		{"a node that closes keeps no member present", 0, testCloseForgetsNode},
		{"a renewal on one node moves the owner's members on another", 0, testRebindThere},
		{"one owner joining on two nodes at once", 0, testOwnerJoinsRace},
		{"an owner's entry past its bound", 0, testOwnerEntryBound},
		{"a crashed node's members go away and leave once", 3, testCrashedNode},
		{"a node that beats is never taken for dead", 0, testLiveNode},
		{"a node just started takes no other for dead", 0, testJustStarted},
		{"a node taken for dead keeps its members again", 0, testKeepAgain},
		{"a node's name must be a key token", 0, testNodeName},
		{"each node's member gauge follows the shared state", 0, testMembersGauge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs, states := newBackends(t, max(tt.nodes, 2))
			tt.run(t, newCluster(t, logs, states))
		})
	}
}

// A cluster is several Hubs in one process sharing one log and one state
// store, as nodes share NATS: each with its own Box made from the one key,
// and its own feed.
type cluster struct {
	state  chat.StateStore // the first node's
	clk    *Clock
	nodes  []*node
	logs   []chat.Log // each node's, as newBackends made them
	states []chat.StateStore
}

// nodeTTL is the clusters' chat.Config.NodeTTL: short, because a NATS
// registry goes by the server's clock, which the tests cannot set, so the
// crash test waits that long in real time; long enough that a node
// sweeping in a test loop on a busy machine still beats well within it.
const nodeTTL = time.Second

// A node is one chat.Hub of a cluster and what it published.
type node struct {
	hub   *chat.Hub
	box   *crypto.Box
	crash func() // makes the node's log and state fail from now on, as if its process died
	log   *crashLog
	mu    sync.Mutex
	got   []chat.Delivery
	ch    chan struct{} // closed and replaced at each delivery
}

func (n *node) publish(d chat.Delivery) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, d)
	close(n.ch)
	n.ch = make(chan struct{})
}

// waitFor waits until the deliveries of kind that n published satisfy ok,
// and returns them; it fails the test after 10 s.
func (n *node) waitFor(t *testing.T, kind chat.Kind, ok func([]chat.Delivery) bool) []chat.Delivery {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		n.mu.Lock()
		var got []chat.Delivery
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

func atLeast(n int) func([]chat.Delivery) bool {
	return func(ds []chat.Delivery) bool { return len(ds) >= n }
}

// newCluster starts a hub per node over its log and state store.
func newCluster(t *testing.T, logs []chat.Log, states []chat.StateStore) *cluster {
	t.Helper()
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{state: states[0], clk: &Clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}, logs: logs, states: states}
	for i := range logs {
		box, err := crypto.NewBox(key)
		if err != nil {
			t.Fatal(err)
		}
		nd := &node{box: box, ch: make(chan struct{})}
		log, state, crash := crashable(logs[i], states[i])
		nd.crash, nd.log = crash, log.(*crashLog)
		cfg := chat.Config{
			Log: log, State: state, Shared: true, Node: string(rune('a' + i)), Now: c.clk.Now, NodeTTL: nodeTTL,
		}
		nd.hub = chat.NewHub(box, cfg, nd.publish, nil)
		t.Cleanup(nd.hub.Close)
		c.nodes = append(c.nodes, nd)
	}
	return c
}

// A Clock is a time source a test sets, safe for concurrent use: a Hub's
// Config.Now (a cluster's nodes share one). Its zero value is the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustJoin(t *testing.T, h *chat.Hub, owner, room, name string) chat.Member {
	t.Helper()
	m, err := h.Join(owner, room, name)
	if err != nil {
		t.Fatalf("Join(%q, %q, %q): %v", owner, room, name, err)
	}
	return m
}

// logEvents returns the events the room keeps, as hub h reads them, as
// kind/name pairs, and checks that their ids are consecutive.
func logEvents(t *testing.T, h *chat.Hub, room string) []string {
	t.Helper()
	p, err := h.History(room, 0, chat.MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, ev := range p.Events {
		if i > 0 && ev.ID != p.Events[i-1].ID+1 {
			t.Errorf("event %d follows %d", ev.ID, p.Events[i-1].ID)
		}
		out = append(out, kindWords[ev.Kind]+" "+ev.Name)
	}
	return out
}

var kindWords = map[chat.Kind]string{chat.KindMessage: "message", chat.KindJoin: "join", chat.KindLeave: "leave"}

func testJoinHerePostThere(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	posted, err := b.hub.Post("browser-a", "lobby", alice.ID, "hello from b", "")
	if err != nil {
		t.Fatalf("Post on the other node: %v", err)
	}
	joins := a.waitFor(t, chat.KindJoin, atLeast(1))
	msgs := a.waitFor(t, chat.KindMessage, atLeast(1))
	if got, want := msgs[0].Event.ID, joins[0].Event.ID+1; got != want || posted.ID != want {
		t.Errorf("message ids: published %d, posted %d; want %d, after the join", got, posted.ID, want)
	}
	if diff := cmp.Diff([]chat.Member{{ID: alice.ID, Name: "alice", State: chat.Online}}, joins[0].Members); diff != "" {
		t.Errorf("the join's member list (-want +got):\n%s", diff)
	}
	// The other node's readers see the same two events, in the same order.
	bm := b.waitFor(t, chat.KindMessage, atLeast(1))
	bj := b.waitFor(t, chat.KindJoin, atLeast(1))
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
		case !errors.Is(err, chat.ErrNameTaken):
			t.Errorf("a losing Join: %v, want %v", err, chat.ErrNameTaken)
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
	if err := a.hub.Leave("browser-a", "lobby", alice.ID); !errors.Is(err, chat.ErrNotMember) {
		t.Errorf("leaving again on the first node: %v, want %v", err, chat.ErrNotMember)
	}
	for _, n := range c.nodes {
		leaves := n.waitFor(t, chat.KindLeave, atLeast(1))
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
	b.waitFor(t, chat.KindLeave, atLeast(1))
	c.clk.Add(chat.DefaultRoomIdle)
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
	resets := b.waitFor(t, chat.KindReset, func(ds []chat.Delivery) bool { return len(ds) > 0 && ds[len(ds)-1].Event.ID > last.ID })
	joins := b.waitFor(t, chat.KindJoin, atLeast(2))
	if first := joins[1].Event.ID; first <= last.ID || joins[1].Event.Member != bob.ID {
		t.Errorf("the next life's first event is %d (member %d), want above %d (member %d)", first, joins[1].Event.Member, last.ID, bob.ID)
	}
	if r := resets[len(resets)-1].Event.ID; r != joins[1].Event.ID-1 {
		t.Errorf("the new life's reset is at %d, want %d", r, joins[1].Event.ID-1)
	}
}

// testDropRacesJoin holds a's drop of an idle room between the state's
// tombstone and the log's purge, while b begins the room's next life with
// a join: the purge must not take the next life's events with it.
func testDropRacesJoin(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	must(t, a.hub.Leave("browser-a", "lobby", alice.ID))
	c.clk.Add(chat.DefaultRoomIdle)
	dropping, release := make(chan struct{}), make(chan struct{})
	a.log.beforeDrop = func(string) {
		close(dropping)
		<-release
	}
	swept := make(chan error, 1)
	go func() { swept <- a.hub.Sweep() }()
	<-dropping
	bob := mustJoin(t, b.hub, "browser-b", "lobby", "bob")
	close(release)
	must(t, <-swept)
	if _, err := b.hub.Post("browser-b", "lobby", bob.ID, "after the drop", ""); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"join bob", "message bob"}, logEvents(t, b.hub, "lobby")); diff != "" {
		t.Errorf("the next life's log (-want +got):\n%s", diff)
	}
	// b's readers were sent the next life's join and message, in order.
	joins := b.waitFor(t, chat.KindJoin, func(ds []chat.Delivery) bool { return len(ds) > 0 && ds[len(ds)-1].Event.Member == bob.ID })
	msgs := b.waitFor(t, chat.KindMessage, atLeast(1))
	if got, want := msgs[0].Event.ID, joins[len(joins)-1].Event.ID+1; got != want {
		t.Errorf("b published the message at %d, want %d, after bob's join", got, want)
	}
	// A reader placed by a reset skips what is not above it: every event
	// b published after a reset must be.
	b.mu.Lock()
	defer b.mu.Unlock()
	var reset uint64
	for _, d := range b.got {
		switch d.Event.Kind {
		case chat.KindReset:
			reset = d.Event.ID
		case chat.KindJoin, chat.KindLeave, chat.KindMessage:
			if d.Event.ID <= reset {
				t.Errorf("b published %v %d after a reset at %d: a reader placed there never sees it", kindWords[d.Event.Kind], d.Event.ID, reset)
			}
		}
	}
}

func testRepairCrashedJoin(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	mustJoin(t, b.hub, "browser-b", "lobby", "bob")
	// A third node seats carol and dies before appending her join.
	_, _, err := chat.UpdateState(c.state, "lobby", func(s *chat.RoomState) error {
		_, err := s.Seat("browser-c", "carol", chat.Digest{}, c.clk.Now(), chat.StateLimits{MaxMembers: 10, MaxOwnNames: 1})
		return err
	})
	must(t, err)
	must(t, a.hub.Sweep())
	if got := logEvents(t, a.hub, "lobby"); len(got) != 2 {
		t.Fatalf("a pending join was repaired within the grace: %v", got)
	}
	c.clk.Add(chat.DefaultRepairGrace)
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
		n.waitFor(t, chat.KindJoin, atLeast(3))
	}
}

func testBearerThere(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	secret := chat.Digest{1, 2, 3}
	bot, err := a.hub.JoinBearer(secret, "lobby", "bot")
	must(t, err)
	hd, ok, err := b.hub.BearerIn("lobby", secret)
	must(t, err)
	if want := (chat.Holder{Owner: hd.Owner, Room: "lobby", Member: bot.ID}); !ok || hd != want || hd.Owner == "" {
		t.Fatalf("BearerIn on the other node = %+v, %v; want %+v, true", hd, ok, want)
	}
	if _, err := b.hub.Post(hd.Owner, "lobby", hd.Member, "beep", ""); err != nil {
		t.Fatalf("the bot posts on the other node: %v", err)
	}
	if _, ok, _ := b.hub.BearerIn("elsewhere", secret); ok {
		t.Error("the secret was found in a room its member is not in")
	}
	must(t, a.hub.Leave(hd.Owner, "lobby", bot.ID))
	// Once the other node has published the leave, its copy of the state
	// has it too (until then a request there may still find the member).
	b.waitFor(t, chat.KindLeave, atLeast(1))
	if _, ok, _ := b.hub.BearerIn("lobby", secret); ok {
		t.Error("the secret still works on the other node after its member left")
	}
}

func testPresenceThere(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	detach, err := b.hub.Attach("reader", "lobby") // b serves the room for a reader
	must(t, err)
	defer detach()
	joins := b.waitFor(t, chat.KindJoin, atLeast(1))
	// No stream keeps alice: after the grace, the first node shows her away.
	c.clk.Add(chat.DefaultPresenceGrace)
	must(t, a.hub.Sweep())
	s, _, err := c.state.Load("lobby")
	must(t, err)
	if s.Seq <= joins[0].Seq {
		t.Fatalf("the state's list is at %d after the sweep, not past the join's %d", s.Seq, joins[0].Seq)
	}
	// The other node decides nothing (its sweep finds the state as the
	// first left it), and sends its readers the list once it has waited
	// the debounce.
	must(t, b.hub.Sweep())
	c.clk.Add(chat.DefaultPresenceDebounce)
	must(t, b.hub.Sweep())
	lists := b.waitFor(t, chat.KindMembers, atLeast(1))
	want := chat.Delivery{
		Room: "lobby", Event: chat.Event{ID: joins[0].Event.ID, Kind: chat.KindMembers, Time: c.clk.Now()},
		Members: []chat.Member{{ID: alice.ID, Name: "alice", State: chat.Away}}, Seq: s.Seq,
	}
	if diff := cmp.Diff(want, lists[len(lists)-1]); diff != "" {
		t.Errorf("the other node's member list (-want +got):\n%s", diff)
	}
}

func testCloseForgetsNode(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	detach, err := a.hub.Attach("browser-a", "lobby", chat.Bind{Member: alice.ID})
	must(t, err)
	defer detach()
	keep := func() map[string]chat.Presence {
		t.Helper()
		s, _, err := c.state.Load("lobby")
		must(t, err)
		if len(s.Members) != 1 {
			t.Fatalf("members %+v, want alice alone", s.Members)
		}
		return s.Members[0].Keep
	}
	if diff := cmp.Diff(map[string]chat.Presence{"a": chat.Online}, byName(keep())); diff != "" {
		t.Fatalf("alice kept by (-want +got):\n%s", diff)
	}
	a.hub.Close()
	if got := keep(); len(got) != 0 {
		t.Fatalf("alice still kept by %v after the node closed", got)
	}
	// The other node, serving the room for a reader, then shows her away
	// after the grace.
	detachB, err := b.hub.Attach("reader", "lobby")
	must(t, err)
	defer detachB()
	c.clk.Add(chat.DefaultPresenceGrace)
	must(t, b.hub.Sweep())
	s, _, err := c.state.Load("lobby")
	must(t, err)
	if s.Members[0].Shown != chat.Away {
		t.Errorf("alice shown %v after the grace, want away", s.Members[0].Shown)
	}
}

// byName returns a member's Keep entries by node name, without the run
// that each Hub adds to its name.
func byName(keep map[string]chat.Presence) map[string]chat.Presence {
	out := make(map[string]chat.Presence, len(keep))
	for node, p := range keep {
		name, _, err := chat.SplitNode(node)
		if err != nil {
			name = "malformed " + node
		}
		out[name] = p
	}
	return out
}

// keptBy returns who keeps the room's only member present, by node name,
// and how the list shows the member.
func keptBy(t *testing.T, c *cluster, room string) (map[string]chat.Presence, chat.Presence) {
	t.Helper()
	s, _, err := c.state.Load(room)
	must(t, err)
	if len(s.Members) != 1 {
		t.Fatalf("members %+v, want one", s.Members)
	}
	return byName(s.Members[0].Keep), s.Members[0].Shown
}

// sweep sweeps the nodes at once, as their Run loops would.
func sweep(t *testing.T, nodes ...*node) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			if err := n.hub.Sweep(); err != nil {
				t.Errorf("Sweep: %v", err)
			}
		})
	}
	wg.Wait()
}

// poll calls step every 20 ms until it returns true; it fails the test
// after 20 s. The NATS registries go by the server's clock, which only
// real time moves, so a test that needs a beat to grow old must poll.
func poll(t *testing.T, step func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !step() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("gave up waiting")
		}
	}
}

func testCrashedNode(t *testing.T, c *cluster) {
	if _, ok := c.states[0].(chat.NodeRegistry); !ok {
		t.Skip("the state store knows no node's liveness")
	}
	a, b, x := c.nodes[0], c.nodes[1], c.nodes[2]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	// alice's only stream is on b; x serves the room for a reader.
	detach, err := b.hub.Attach("browser-a", "lobby", chat.Bind{Member: alice.ID})
	must(t, err)
	defer detach()
	detachX, err := x.hub.Attach("reader", "lobby")
	must(t, err)
	defer detachX()
	if keep, _ := keptBy(t, c, "lobby"); !cmp.Equal(keep, map[string]chat.Presence{"b": chat.Online}) {
		t.Fatalf("alice kept by %v, want b", keep)
	}
	sweep(t, a, b, x) // every node beats once
	b.crash()
	// The others take b for dead once its last beat is the TTL old: then
	// no node keeps alice, but she is shown online for the grace still.
	poll(t, func() bool {
		c.clk.Add(nodeTTL / 4)
		sweep(t, a, x)
		keep, shown := keptBy(t, c, "lobby")
		if shown != chat.Online {
			t.Fatalf("alice shown %v while kept by %v", shown, keep)
		}
		return len(keep) == 0
	})
	c.clk.Add(chat.DefaultPresenceGrace)
	sweep(t, a, x)
	if _, shown := keptBy(t, c, "lobby"); shown != chat.Away {
		t.Fatalf("alice shown %v after the grace, want away", shown)
	}
	c.clk.Add(chat.DefaultPresenceDebounce)
	sweep(t, a, x)
	for _, n := range []*node{a, x} {
		n.waitFor(t, chat.KindMembers, func(ds []chat.Delivery) bool {
			return len(ds) > 0 && cmp.Equal(ds[len(ds)-1].Members, []chat.Member{{ID: alice.ID, Name: "alice", State: chat.Away}})
		})
	}
	// After the away timeout, both live nodes decide she leaves; the log
	// has her leave once.
	c.clk.Add(chat.DefaultAwayTimeout)
	sweep(t, a, x)
	for _, n := range []*node{a, x} {
		n.waitFor(t, chat.KindLeave, atLeast(1))
	}
	if diff := cmp.Diff([]string{"join alice", "leave alice"}, logEvents(t, a.hub, "lobby")); diff != "" {
		t.Errorf("the log (-want +got):\n%s", diff)
	}
}

func testLiveNode(t *testing.T, c *cluster) {
	if _, ok := c.states[0].(chat.NodeRegistry); !ok {
		t.Skip("the state store knows no node's liveness")
	}
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	detach, err := b.hub.Attach("browser-a", "lobby", chat.Bind{Member: alice.ID})
	must(t, err)
	defer detach()
	// Both nodes sweep (and beat) for four TTLs on the hubs' clock and two
	// in real time (a NATS registry's): long enough that a node that did
	// not beat would be taken for dead, and a keeps finding b alive.
	start, began := time.Now(), c.clk.Now()
	poll(t, func() bool {
		c.clk.Add(nodeTTL / 4)
		sweep(t, a, b)
		keep, shown := keptBy(t, c, "lobby")
		if diff := cmp.Diff(map[string]chat.Presence{"b": chat.Online}, keep); diff != "" || shown != chat.Online {
			t.Fatalf("alice shown %v, kept by (-want +got):\n%s", shown, diff)
		}
		return time.Since(start) >= 2*nodeTTL && c.clk.Now().Sub(began) >= 4*nodeTTL
	})
}

func testNodeName(t *testing.T, c *cluster) {
	for _, name := range []string{"a.b", "a b", "a/b", "a*", "a>", "ünï", strings.Repeat("n", 65)} {
		t.Run(name, func(t *testing.T) {
			cfg := chat.Config{Log: c.logs[0], State: c.states[0], Shared: true, Node: name, Now: c.clk.Now}
			h := chat.NewHub(c.nodes[0].box, cfg, func(chat.Delivery) {}, nil)
			defer h.Close()
			if err := h.Sweep(); !errors.Is(err, chat.ErrNodeName) {
				t.Errorf("Sweep: %v, want %v", err, chat.ErrNodeName)
			}
			if reg, ok := c.states[0].(chat.NodeRegistry); ok {
				if err := reg.Beat(name+"/run", c.clk.Now()); !errors.Is(err, chat.ErrNodeName) {
					t.Errorf("Beat: %v, want %v", err, chat.ErrNodeName)
				}
			}
		})
	}
}

func testJustStarted(t *testing.T, c *cluster) {
	if _, ok := c.states[0].(chat.NodeRegistry); !ok {
		t.Skip("the state store knows no node's liveness")
	}
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	detach, err := b.hub.Attach("browser-a", "lobby", chat.Bind{Member: alice.ID})
	must(t, err)
	defer detach()
	sweep(t, b)
	// b's beat is long past when a first sweeps: a has heard no beat for
	// a TTL of its own yet, so it takes no one for dead.
	c.clk.Add(10 * nodeTTL)
	sweep(t, a)
	if keep, _ := keptBy(t, c, "lobby"); !cmp.Equal(keep, map[string]chat.Presence{"b": chat.Online}) {
		t.Fatalf("alice kept by %v after a's first sweep, want b", keep)
	}
}

func testKeepAgain(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	detach, err := b.hub.Attach("browser-a", "lobby", chat.Bind{Member: alice.ID})
	must(t, err)
	defer detach()
	// Another node took b for dead (b was cut off from the store for a
	// while): its entry is gone, though its stream is open.
	_, _, err = chat.UpdateState(c.state, "lobby", func(s *chat.RoomState) error {
		for _, node := range s.Keepers() {
			s.ForgetNode(node, c.clk.Now())
		}
		return nil
	})
	must(t, err)
	if keep, _ := keptBy(t, c, "lobby"); len(keep) != 0 {
		t.Fatalf("alice kept by %v after the others forgot b", keep)
	}
	// b's next sweep writes it back, once its copy of the state has the
	// change (it follows the store).
	poll(t, func() bool {
		sweep(t, b)
		keep, _ := keptBy(t, c, "lobby")
		return cmp.Equal(keep, map[string]chat.Presence{"b": chat.Online})
	})
}

// ownerIndex returns the cluster's owner index, or fails the test.
func (c *cluster) ownerIndex(t *testing.T) chat.OwnerIndex {
	t.Helper()
	ix, ok := c.state.(chat.OwnerIndex)
	if !ok {
		t.Fatalf("the StateStore %T is no chat.OwnerIndex", c.state)
	}
	return ix
}

// postAs checks that owner can post as member id in room on h, or cannot
// (chat.ErrNotMember).
func postAs(t *testing.T, h *chat.Hub, owner, room string, id uint64, can bool) {
	t.Helper()
	_, err := h.Post(owner, room, id, "hi from "+owner, "")
	switch {
	case can && err != nil:
		t.Errorf("%s posts in %s: %v", owner, room, err)
	case !can && !errors.Is(err, chat.ErrNotMember):
		t.Errorf("%s posts in %s: %v, want %v", owner, room, err, chat.ErrNotMember)
	}
}

func testRebindThere(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	ix := c.ownerIndex(t)
	alice := mustJoin(t, a.hub, "o", "room-a", "alice") // only a serves room-a
	mustJoin(t, b.hub, "o", "room-b", "alice")
	b.hub.Rebind("o", "o2") // the browser's session renewed on b
	if n := b.hub.Rooms(); n != 1 {
		t.Errorf("b serves %d rooms after the renewal, want 1 (room-b)", n)
	}
	// The new owner first: once a has read the state for it, the old one
	// is refused there too, not only in the store.
	postAs(t, a.hub, "o2", "room-a", alice.ID, true)
	postAs(t, a.hub, "o", "room-a", alice.ID, false)
	if rooms, rev, err := ix.Rooms("o"); err != nil || len(rooms) != 0 || rev != 0 {
		t.Errorf("the old owner's entry after the renewal: %v at %d (%v), want none", rooms, rev, err)
	}
	rooms, _, err := ix.Rooms("o2")
	must(t, err)
	if diff := cmp.Diff([]string{"room-a", "room-b"}, rooms); diff != "" {
		t.Errorf("the new owner's rooms (-want +got):\n%s", diff)
	}
}

func testOwnerJoinsRace(t *testing.T, c *cluster) {
	const each = 4
	var want []string
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, n := range c.nodes {
		for k := range each {
			room := "n" + string(rune('a'+i)) + "-" + string(rune('0'+k))
			want = append(want, room)
			wg.Go(func() {
				<-start
				if _, err := n.hub.Join("o", room, "alice"); err != nil {
					t.Errorf("Join %s: %v", room, err)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	got, _, err := c.ownerIndex(t).Rooms("o")
	must(t, err)
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the owner's rooms after joins on both nodes at once (-want +got):\n%s", diff)
	}
}

func testOwnerEntryBound(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	ix := c.ownerIndex(t)
	addStale := func(owner, prefix string) {
		t.Helper()
		for k := range chat.MaxOwnerRooms {
			must(t, ix.AddRoom(owner, fmt.Sprintf("%s-%d", prefix, k)))
		}
	}
	// Rooms never held (or left, or dropped) fill the entry; the join
	// makes room-a the newest and drops the oldest.
	addStale("o", "stale")
	alice := mustJoin(t, a.hub, "o", "room-a", "alice")
	rooms, _, err := ix.Rooms("o")
	must(t, err)
	if len(rooms) != chat.MaxOwnerRooms || rooms[0] != "stale-1" || rooms[len(rooms)-1] != "room-a" {
		t.Fatalf("the entry holds %d rooms from %q to %q, want %d from stale-1 to room-a", len(rooms), rooms[0], rooms[len(rooms)-1], chat.MaxOwnerRooms)
	}
	// A renewal moves what it finds and leaves the stale rooms behind.
	b.hub.Rebind("o", "o2")
	postAs(t, a.hub, "o2", "room-a", alice.ID, true)
	rooms, _, err = ix.Rooms("o2")
	must(t, err)
	if diff := cmp.Diff([]string{"room-a"}, rooms); diff != "" {
		t.Errorf("the new owner's rooms (-want +got):\n%s", diff)
	}
	// Past the bound, room-a falls out of the entry: a renewal on a node
	// that does not serve it misses it, and the member stays with o2.
	addStale("o2", "later")
	b.hub.Rebind("o2", "o3")
	postAs(t, a.hub, "o3", "room-a", alice.ID, false)
	postAs(t, a.hub, "o2", "room-a", alice.ID, true)
}

// Each node's Members figure is the members of the rooms it serves, as the
// shared state has them, whichever node seated or removed them: never
// below zero, never counting a member twice.
func testMembersGauge(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	detach, err := b.hub.Attach("reader", "lobby") // b serves the room, waiting for it
	must(t, err)
	defer detach()
	alice := mustJoin(t, a.hub, "browser-a", "lobby", "alice")
	mustJoin(t, b.hub, "browser-b", "lobby", "bob")
	gauges := func(want int) func() bool {
		return func() bool { return a.hub.Stats().Members == want && b.hub.Stats().Members == want }
	}
	poll(t, gauges(2))
	must(t, a.hub.Leave("browser-a", "lobby", alice.ID))
	poll(t, gauges(1))
}
