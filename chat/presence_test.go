package chat

import (
	"testing"
	"time"
)

// states returns the member list of the newest delivery that carries one,
// as name → state, with its seq.
func lastList(t *testing.T, f *feed) (map[string]Presence, Delivery) {
	t.Helper()
	evs := f.events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Event.Affects() || evs[i].Event.Kind == KindMembers {
			m := map[string]Presence{}
			for _, mb := range evs[i].Members {
				m[mb.Name] = mb.State
			}
			return m, evs[i]
		}
	}
	t.Fatal("no member list was published")
	return nil, Delivery{}
}

func attach(t *testing.T, h *Hub, owner, room string, binds ...Bind) func() {
	t.Helper()
	detach, err := h.Attach(owner, room, binds...)
	if err != nil {
		t.Fatal(err)
	}
	return detach
}

func historyLen(t *testing.T, h *Hub, room string) int {
	t.Helper()
	b, err := h.Backlog(room, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b.Len()
}

func TestPresenceStates(t *testing.T) {
	h, f, clk := newTestHub(t, Config{PresenceGrace: 5 * time.Second, PresenceDebounce: 2 * time.Second, AwayTimeout: time.Minute})
	alice := mustJoin(t, h, "a", "lobby", "alice")
	bob := mustJoin(t, h, "b", "lobby", "bob")
	kept := historyLen(t, h, "lobby")
	published := len(f.events())
	_, joined := lastList(t, f)

	// alice's tab is visible, bob's only tab is hidden.
	detachA := attach(t, h, "a", "lobby", Bind{Member: alice.ID})
	detachB := attach(t, h, "b", "lobby", Bind{Member: bob.ID, Idle: true})
	must(t, h.Sweep())
	if n := len(f.events()); n != published {
		t.Fatalf("a change of presence was sent before the debounce: %d deliveries, want %d", n, published)
	}
	clk.Add(2 * time.Second)
	must(t, h.Sweep())
	states, d := lastList(t, f)
	if states["alice"] != Online || states["bob"] != Idle {
		t.Fatalf("after the debounce: %v, want alice online, bob idle", states)
	}
	if d.Event.Kind != KindMembers || d.Event.ID != joined.Event.ID || d.Seq <= joined.Seq {
		t.Fatalf("list update = kind %d id %d seq %d; want KindMembers, id %d (no new id), seq > %d", d.Event.Kind, d.Event.ID, d.Seq, joined.Event.ID, joined.Seq)
	}
	if n := historyLen(t, h, "lobby"); n != kept {
		t.Fatalf("presence changes took %d history entries", n-kept)
	}
	if got, err := h.Membership("b", "lobby", bob.ID); err != nil || got.State != Idle {
		t.Fatalf("Membership(bob) = %+v, %v; want idle", got, err)
	}

	// bob flips to visible and back within the debounce: one update at most,
	// and it says idle.
	published = len(f.events())
	detachB2 := attach(t, h, "b", "lobby", Bind{Member: bob.ID})
	detachB2()
	clk.Add(3 * time.Second)
	must(t, h.Sweep())
	must(t, h.Sweep())
	if n := len(f.events()) - published; n > 1 {
		t.Fatalf("a flip within the debounce sent %d updates", n)
	}
	if states, _ := lastList(t, f); states["bob"] != Idle {
		t.Fatalf("after the flip: %v, want bob idle", states)
	}

	// Hidden well past the away timeout, bob stays.
	clk.Add(10 * time.Minute)
	must(t, h.Sweep())
	if _, err := h.Membership("b", "lobby", bob.ID); err != nil {
		t.Fatalf("an idle member left: %v", err)
	}

	// Someone else's browser cannot keep alice present, nor an id of nobody.
	other := attach(t, h, "b", "lobby", Bind{Member: alice.ID}, Bind{Member: 999})
	detachA()
	clk.Add(4 * time.Second)
	must(t, h.Sweep())
	if states, _ := lastList(t, f); states["alice"] != Online {
		t.Fatalf("within the grace: %v, want alice still online", states)
	}
	clk.Add(time.Second)
	must(t, h.Sweep()) // grace over: away, waiting for the debounce
	clk.Add(2 * time.Second)
	must(t, h.Sweep())
	if states, _ := lastList(t, f); states["alice"] != Away {
		t.Fatalf("after the grace: %v, want alice away", states)
	}
	other()

	// Away for the timeout: alice leaves, announced, with the list.
	clk.Add(time.Minute)
	must(t, h.Sweep())
	states, d = lastList(t, f)
	if d.Event.Kind != KindLeave || d.Event.Name != "alice" || len(states) != 1 || states["bob"] != Idle {
		t.Fatalf("after the away timeout: %+v, want alice's leave and bob idle", d)
	}
	detachB()
}

func TestPostingKeepsAMemberPresent(t *testing.T) {
	h, f, clk := newTestHub(t, Config{AwayTimeout: time.Minute})
	bot := mustJoin(t, h, "curl", "lobby", "bot")
	for range 5 {
		clk.Add(50 * time.Second)
		must(t, h.Sweep())
		if _, err := h.Post("curl", "lobby", bot.ID, "still here", ""); err != nil {
			t.Fatalf("a member that posts every 50 s was removed: %v", err)
		}
	}
	if states, _ := lastList(t, f); states["bot"] != Away {
		t.Fatalf("a member with no stream shows %v, want away", states["bot"])
	}
	clk.Add(time.Minute)
	must(t, h.Sweep())
	if _, err := h.Membership("curl", "lobby", bot.ID); err != ErrNotMember {
		t.Fatalf("a silent member with no stream stayed past the away timeout: %v", err)
	}
}

func TestOneStreamKeepsManyMembers(t *testing.T) {
	h, f, clk := newTestHub(t, Config{PresenceGrace: time.Second, PresenceDebounce: time.Second, AwayTimeout: time.Minute})
	var binds []Bind
	for i, name := range []string{"tab1", "tab2", "tab3"} {
		m := mustJoin(t, h, "browser", "lobby", name)
		binds = append(binds, Bind{Member: m.ID, Idle: i > 0})
	}
	binds = append(binds, binds[0]) // listed twice, counted once
	detach := attach(t, h, "browser", "lobby", binds...)
	clk.Add(time.Second)
	must(t, h.Sweep())
	if states, _ := lastList(t, f); states["tab1"] != Online || states["tab2"] != Idle || states["tab3"] != Idle {
		t.Fatalf("one stream for three tabs: %v, want tab1 online, the others idle", states)
	}
	detach()
	clk.Add(time.Second)
	must(t, h.Sweep())
	clk.Add(time.Second)
	must(t, h.Sweep())
	if states, _ := lastList(t, f); states["tab1"] != Away || states["tab2"] != Away || states["tab3"] != Away {
		t.Fatalf("after the shared stream closed: %v, want all away", states)
	}
}
