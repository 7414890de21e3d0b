package chat

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/crypto"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// feed records what a hub publishes.
type feed struct {
	mu      sync.Mutex
	got     []Delivery
	dropped []string
}

func (f *feed) publish(d Delivery) {
	f.mu.Lock()
	f.got = append(f.got, d)
	f.mu.Unlock()
}

func (f *feed) drop(room string) {
	f.mu.Lock()
	f.dropped = append(f.dropped, room)
	f.mu.Unlock()
}

// events returns what was published, but for the resets that begin each
// life of a room (resets returns those).
func (f *feed) events() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Delivery
	for _, d := range f.got {
		if d.Event.Kind != KindReset {
			out = append(out, d)
		}
	}
	return out
}

func (f *feed) resets() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Delivery
	for _, d := range f.got {
		if d.Event.Kind == KindReset {
			out = append(out, d)
		}
	}
	return out
}

func newTestHub(t *testing.T, cfg Config) (*Hub, *feed, *clock) {
	t.Helper()
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	cfg.Now = clk.Now
	f := &feed{}
	return NewHub(box, cfg, f.publish, f.drop), f, clk
}

func mustJoin(t *testing.T, h *Hub, owner, room, name string) Member {
	t.Helper()
	m, err := h.Join(owner, room, name)
	if err != nil {
		t.Fatalf("Join(%q, %q, %q): %v", owner, room, name, err)
	}
	return m
}

func TestJoinPostLeave(t *testing.T) {
	h, f, _ := newTestHub(t, Config{})
	alice := mustJoin(t, h, "browser-a", "Lobby", "Alice")
	bob := mustJoin(t, h, "browser-b", "lobby", "bob")
	if _, err := h.Post("browser-a", "LOBBY", 0, " hi\r\nthere ", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.Leave("browser-b", "lobby", 0); err != nil {
		t.Fatal(err)
	}

	got := f.events()
	want := []struct {
		kind   Kind
		member uint64
		name   string
		text   string
		names  []string
	}{
		{KindJoin, alice.ID, "Alice", "", []string{"Alice"}},
		{KindJoin, bob.ID, "bob", "", []string{"Alice", "bob"}},
		{KindMessage, alice.ID, "Alice", "hi\nthere", nil},
		{KindLeave, bob.ID, "bob", "", []string{"Alice"}},
	}
	if len(got) != len(want) {
		t.Fatalf("published %d events, want %d", len(got), len(want))
	}
	first := got[0].Event.ID
	for i, w := range want {
		d := got[i]
		var names []string
		for _, m := range d.Members {
			names = append(names, m.Name)
		}
		if d.Room != "lobby" || d.Event.ID != first+uint64(i) || d.Event.Kind != w.kind ||
			d.Event.Member != w.member || d.Event.Name != w.name || d.Event.Text != w.text || !slices.Equal(names, w.names) {
			t.Errorf("event %d = %+v members %v; want id %d %+v", i, d, names, first+uint64(i), w)
		}
	}

	b, err := h.Backlog("lobby", 0)
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, b)
	if b.Reset || b.From != first-1 || b.Last != first+3 || len(evs) != 4 || b.Len() != 4 || len(b.Members) != 1 {
		t.Fatalf("backlog = %+v", b)
	}
	for i, ev := range evs {
		if ev != got[i].Event {
			t.Errorf("backlog event %d = %+v, published %+v", i, ev, got[i].Event)
		}
	}
}

func TestJoinRules(t *testing.T) {
	h, _, _ := newTestHub(t, Config{MaxMembers: 2, MaxRooms: 2})
	mustJoin(t, h, "a", "lobby", "Alice")
	tests := []struct {
		owner, room, name string
		err               error
	}{
		{"b", "lobby", "ａｌｉｃｅ", ErrNameTaken},
		{"b", "lobby", "ALICE", ErrNameTaken},
		{"b", "lobby", "al\u202eice", ErrInvalidName},
		{"b", "no rooms", "bob", ErrInvalidRoom},
		{"a", "lobby", "Alice2", nil}, // a second tab of the same browser
		{"c", "lobby", "carol", ErrRoomFull},
		{"c", "second", "carol", nil},
		{"c", "third", "carol", ErrTooManyRooms},
	}
	for _, tt := range tests {
		if _, err := h.Join(tt.owner, tt.room, tt.name); err != tt.err {
			t.Errorf("Join(%q, %q, %q) = %v, want %v", tt.owner, tt.room, tt.name, err, tt.err)
		}
	}
}

func TestPerBrowserAndServerLimits(t *testing.T) {
	h, _, _ := newTestHub(t, Config{MaxOwnNames: 2, MaxReaders: 2})
	mustJoin(t, h, "a", "lobby", "one")
	mustJoin(t, h, "a", "lobby", "two")
	if _, err := h.Join("a", "lobby", "three"); err != ErrTooManyNames {
		t.Fatalf("a third name from one browser = %v, want ErrTooManyNames", err)
	}
	mustJoin(t, h, "a", "other", "three") // the limit is per room
	mustJoin(t, h, "b", "lobby", "bob")   // and per browser

	d1, err := h.Attach("", "lobby")
	must(t, err)
	d2, err := h.Attach("", "other")
	must(t, err)
	if _, err := h.Attach("", "third"); err != ErrTooManyReaders {
		t.Fatalf("a stream over the limit = %v, want ErrTooManyReaders", err)
	}
	if h.Rooms() != 2 {
		t.Fatalf("a refused stream made a room: %d rooms", h.Rooms())
	}
	d1()
	d3, err := h.Attach("", "lobby")
	must(t, err)
	d2()
	d3()
}

func TestPostIsByTheOwnersMember(t *testing.T) {
	h, f, _ := newTestHub(t, Config{})
	a1 := mustJoin(t, h, "a", "lobby", "tab-one")
	a2 := mustJoin(t, h, "a", "lobby", "tab-two")
	b := mustJoin(t, h, "b", "lobby", "bob")

	tests := []struct {
		owner  string
		member uint64
		name   string // the sender the event must carry; "" for an error
		err    error
	}{
		{"a", a1.ID, "tab-one", nil},
		{"a", a2.ID, "tab-two", nil},
		{"a", 0, "tab-two", nil}, // no member given: the browser's latest
		{"a", b.ID, "", ErrNotMember},
		{"b", a1.ID, "", ErrNotMember},
		{"stranger", 0, "", ErrNotMember},
	}
	for _, tt := range tests {
		ev, err := h.Post(tt.owner, "lobby", tt.member, "hello", "")
		if err != tt.err || ev.Name != tt.name {
			t.Errorf("Post(%q, %d) = %q, %v; want %q, %v", tt.owner, tt.member, ev.Name, err, tt.name, tt.err)
		}
	}
	if _, err := h.Post("a", "nowhere", 0, "hello", ""); err != ErrNotMember {
		t.Errorf("post to a missing room = %v, want ErrNotMember", err)
	}
	if _, err := h.Post("a", "lobby", 0, "   ", ""); err != ErrEmptyMessage {
		t.Errorf("blank post = %v, want ErrEmptyMessage", err)
	}
	if n := len(f.events()); n != 6 {
		t.Errorf("%d events published, want 3 joins and 3 messages", n)
	}
}

func TestBacklogResumePoints(t *testing.T) {
	h, f, _ := newTestHub(t, Config{History: 5})
	mustJoin(t, h, "a", "lobby", "alice")
	for i := 0; i < 7; i++ {
		if _, err := h.Post("a", "lobby", 0, "m", ""); err != nil {
			t.Fatal(err)
		}
	}
	all := f.events() // 8 events; the last 5 are retained
	last := all[7].Event.ID
	oldest := all[3].Event.ID

	tests := []struct {
		name   string
		since  uint64
		reset  bool
		from   uint64
		events int
	}{
		{"all retained", 0, false, oldest - 1, 5},
		{"just before the oldest", oldest - 1, false, oldest - 1, 5},
		{"in the middle", last - 2, false, last - 2, 2},
		{"up to date", last, false, last, 0},
		{"older than retained", oldest - 2, true, oldest - 1, 5},
		{"from an earlier run", 1, true, oldest - 1, 5},
		{"newer than the newest", last + 1, true, oldest - 1, 5},
	}
	for _, tt := range tests {
		b, err := h.Backlog("lobby", tt.since)
		if err != nil {
			t.Fatal(err)
		}
		evs := collect(t, b)
		if b.Reset != tt.reset || b.From != tt.from || len(evs) != tt.events || b.Last != last {
			t.Errorf("%s: Backlog(%d) = reset %v from %d, %d events, last %d; want %v %d %d %d",
				tt.name, tt.since, b.Reset, b.From, len(evs), b.Last, tt.reset, tt.from, tt.events, last)
		}
		for i, ev := range evs {
			if ev.ID != b.From+1+uint64(i) {
				t.Errorf("%s: event %d has id %d, want %d", tt.name, i, ev.ID, b.From+1+uint64(i))
			}
		}
	}
}

// A stream may wait for a room that does not exist: that neither makes the
// room nor counts against MaxRooms, and the room's first delivery, when it
// is made, is a reset at the id before its first event.
func TestStreamWaitsForARoom(t *testing.T) {
	h, f, _ := newTestHub(t, Config{MaxRooms: 1})
	detach, err := h.Attach("", "quiet")
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	if _, err := h.Backlog("quiet", 0); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("Backlog of a room nobody made: %v, want ErrNoRoom", err)
	}
	if h.Rooms() != 0 || h.Readers("quiet") != 1 {
		t.Fatalf("rooms %d, readers %d; want 0 and 1", h.Rooms(), h.Readers("quiet"))
	}
	mustJoin(t, h, "a", "lobby", "alice") // the one room MaxRooms allows
	if _, err := h.Join("b", "quiet", "bob"); !errors.Is(err, ErrTooManyRooms) {
		t.Fatalf("a second room: %v", err)
	}
	all := f.got
	if len(all) != 2 || all[0].Event.Kind != KindReset || all[1].Event.Kind != KindJoin || all[0].Event.ID != all[1].Event.ID-1 {
		t.Fatalf("deliveries %+v, want a reset at the id before the first join, then the join", all)
	}
}

func TestHistoryIsSealed(t *testing.T) {
	h, _, _ := newTestHub(t, Config{})
	mustJoin(t, h, "a", "lobby", "alice")
	secret := "the eagle lands at noon"
	if _, err := h.Post("a", "lobby", 0, secret, ""); err != nil {
		t.Fatal(err)
	}
	recs, err := h.log.Read("lobby", 0, 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records (%v), want 2", len(recs), err)
	}
	for _, rec := range recs {
		if bytes.Contains(rec.Sealed, []byte(secret)) || bytes.Contains(rec.Sealed, []byte("alice")) {
			t.Fatalf("record %d holds plaintext", rec.ID)
		}
	}
	// A record moved to another position must not open.
	ring := h.log.(*MemoryLog).rooms["lobby"]
	ring.buf[0].Sealed, ring.buf[1].Sealed = ring.buf[1].Sealed, ring.buf[0].Sealed
	b, err := h.Backlog("lobby", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range b.Events() {
		if !errors.Is(err, crypto.ErrOpen) {
			t.Fatalf("opening swapped records = %v, want crypto.ErrOpen", err)
		}
	}
}

func TestIdleRoomIsDropped(t *testing.T) {
	h, f, clk := newTestHub(t, Config{RoomIdle: time.Minute})
	mustJoin(t, h, "a", "lobby", "alice")
	first := f.events()[0].Event.ID
	must(t, h.Leave("a", "lobby", 0))
	// A reader does not keep a room with no members.
	detach, err := h.Attach("", "lobby")
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	clk.Add(59 * time.Second)
	must(t, h.Sweep())
	if h.Rooms() != 1 {
		t.Fatal("dropped before the idle time")
	}
	clk.Add(time.Second)
	must(t, h.Sweep())
	if h.Rooms() != 0 || !slices.Equal(f.dropped, []string{"lobby"}) {
		t.Fatalf("rooms = %d, dropped = %v; want lobby dropped", h.Rooms(), f.dropped)
	}
	mustJoin(t, h, "a", "lobby", "alice")
	if rs := f.resets(); len(rs) != 2 || rs[1].Event.ID <= first+1 {
		t.Fatalf("resets %+v: the room's second life must begin with one, after its first life's ids", rs)
	}
	evs := f.events()
	if again := evs[len(evs)-1].Event.ID; again <= first+1 {
		t.Fatalf("the room made again starts at id %d, not after its former life's %d", again, first+1)
	}
	b, err := h.Backlog("lobby", first+1)
	if err != nil || !b.Reset {
		t.Fatalf("resuming from the former life: %+v, %v; want a reset", b, err)
	}
}

func TestConcurrentPostsKeepOrder(t *testing.T) {
	h, f, _ := newTestHub(t, Config{History: 10000})
	const posters, each = 8, 200
	var wg sync.WaitGroup
	for p := 0; p < posters; p++ {
		owner := string(rune('a' + p))
		mustJoin(t, h, owner, "lobby", owner)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := h.Post(owner, "lobby", 0, "x", ""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs := f.events()
	if len(evs) != posters*(each+1) {
		t.Fatalf("%d events, want %d", len(evs), posters*(each+1))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Event.ID != evs[i-1].Event.ID+1 {
			t.Fatalf("event %d has id %d after %d", i, evs[i].Event.ID, evs[i-1].Event.ID)
		}
	}
}

// collect opens all of a backlog's events.
func collect(t *testing.T, b Backlog) []Event {
	t.Helper()
	var evs []Event
	for ev, err := range b.Events() {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
