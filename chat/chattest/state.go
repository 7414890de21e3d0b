package chattest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/google/go-cmp/cmp"
)

// NewStateStores returns n StateStores over one empty shared store, each
// as a separate node would have it (its own connection, for a network
// store). TestStateStore calls it once per subtest.
type NewStateStores func(t *testing.T, n int) []chat.StateStore

// TestStateStore runs the contract of chat.StateStore against the stores
// newStores makes: compare-and-set updates that write nothing when they
// lose, exactly one winner when two nodes seat the same name (or two
// look-alikes) at once, drops that keep the floor of a room's ids, and
// watchers that see other writers' changes.
func TestStateStore(t *testing.T, newStores NewStateStores) {
	t.Run("compare-and-set", func(t *testing.T) { testStateCAS(t, newStores(t, 1)[0]) })
	t.Run("same name from two nodes", func(t *testing.T) { testSeatRace(t, newStores(t, 2), "alice", "alice") })
	t.Run("look-alikes from two nodes", func(t *testing.T) { testSeatRace(t, newStores(t, 2), "alice", "aIice") })
	t.Run("drop keeps the floor", func(t *testing.T) { testStateDelete(t, newStores(t, 2)) })
	t.Run("watch", func(t *testing.T) { testStateWatch(t, newStores(t, 2)) })
}

var (
	stateTime   = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	stateLimits = chat.StateLimits{MaxMembers: 10, MaxOwnNames: 10}
)

func load(t *testing.T, s chat.StateStore, room string) (chat.RoomState, chat.Revision) {
	t.Helper()
	st, rev, err := s.Load(room)
	if err != nil {
		t.Fatalf("Load(%s): %v", room, err)
	}
	return st, rev
}

func seat(t *testing.T, st *chat.RoomState, owner, name string) {
	t.Helper()
	if _, err := st.Seat(owner, name, chat.Digest{}, stateTime, stateLimits); err != nil {
		t.Fatalf("Seat(%s): %v", name, err)
	}
}

// owners returns the owners of a state's members, in id order.
func owners(st chat.RoomState) []string {
	out := []string{}
	for _, m := range st.Members {
		out = append(out, m.Owner)
	}
	return out
}

func testStateCAS(t *testing.T, s chat.StateStore) {
	const room = "cas.room" // names may hold '.'
	if st, rev := load(t, s, room); rev != 0 || !cmp.Equal(st, chat.RoomState{}) {
		t.Fatalf("a new store's room: revision %d, %+v; want 0 and the zero state", rev, st)
	}
	var first chat.RoomState
	seat(t, &first, "o1", "alice")
	rev1, err := s.Update(room, 0, first)
	if err != nil || rev1 == 0 {
		t.Fatalf("Update at revision 0 of a new room = %d, %v; want a revision above 0", rev1, err)
	}
	got, rev := load(t, s, room)
	if rev != rev1 {
		t.Errorf("Load revision %d; Update returned %d", rev, rev1)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("state as loaded (-stored +loaded):\n%s", diff)
	}

	second := got
	seat(t, &second, "o2", "bob")
	stale := got
	seat(t, &stale, "o3", "carol")
	for _, tc := range []struct {
		name   string
		expect chat.Revision
	}{
		{"create over an existing state", 0},
		{"stale revision", rev1 + 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Update(room, tc.expect, stale); !errors.Is(err, chat.ErrConflict) {
				t.Errorf("Update at revision %d (now %d) = %v; want chat.ErrConflict", tc.expect, rev1, err)
			}
		})
	}
	rev2, err := s.Update(room, rev1, second)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("Update at the current revision %d = %d, %v; want a greater revision", rev1, rev2, err)
	}
	// The writer that decided on rev1 too now loses, and writes nothing.
	if _, err := s.Update(room, rev1, stale); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("Update at the replaced revision = %v; want chat.ErrConflict", err)
	}
	if got, rev := load(t, s, room); rev != rev2 || !cmp.Equal(owners(got), []string{"o1", "o2"}) {
		t.Errorf("after the lost update: revision %d, owners %v; want %d, [o1 o2]", rev, owners(got), rev2)
	}
	// Rooms are separate.
	if _, rev := load(t, s, "cas.other"); rev != 0 {
		t.Errorf("another room has revision %d", rev)
	}
	if _, err := s.Update("cas.other", 0, first); err != nil {
		t.Errorf("Update of another room at revision 0: %v", err)
	}
}

// testSeatRace has two nodes seat name a and name b in one room at once,
// rounds times: exactly one may win each time, and the loser then sees the
// winner's member.
func testSeatRace(t *testing.T, nodes []chat.StateStore, a, b string) {
	const rounds = 50
	names := []string{a, b}
	for round := range rounds {
		room := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, node := range nodes {
			wg.Go(func() {
				<-start
				_, _, errs[i] = chat.UpdateState(node, room, func(st *chat.RoomState) error {
					_, err := st.Seat(fmt.Sprint("node", i), names[i], chat.Digest{}, stateTime, stateLimits)
					return err
				})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Fatalf("round %d: both nodes seated %q and %q", round, a, b)
			case !errors.Is(err, chat.ErrNameTaken):
				t.Fatalf("round %d: node %d: %v; want success or chat.ErrNameTaken", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: neither node seated its name: %v", round, errs)
		}
		for i, node := range nodes {
			st, _ := load(t, node, room)
			if diff := cmp.Diff([]string{fmt.Sprint("node", winner)}, owners(st)); diff != "" {
				t.Fatalf("round %d: node %d sees owners (-want +got):\n%s", round, i, diff)
			}
		}
	}
}

func testStateDelete(t *testing.T, nodes []chat.StateStore) {
	a, b := nodes[0], nodes[1]
	const room = "dropped"
	if rev, err := a.Delete(room, 0); err != nil || rev != 0 {
		t.Errorf("Delete of a room never held = %d, %v; want 0, nil", rev, err)
	}
	if _, rev := load(t, a, room); rev != 0 {
		t.Errorf("after deleting a room never held, its revision is %d", rev)
	}
	live, rev, err := chat.UpdateState(a, room, func(st *chat.RoomState) error {
		seat(t, st, "o1", "alice")
		if _, err := st.Leave("o1", 0, stateTime); err != nil {
			return err
		}
		st.Observe(st.Base + 41) // the log's newest, as a node learns it before a drop
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Delete(room, rev+1000); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("Delete at a stale revision = %v; want chat.ErrConflict", err)
	}
	if _, got := load(t, a, room); got != rev {
		t.Errorf("a lost Delete moved the revision %d → %d", rev, got)
	}
	drop, err := b.Delete(room, rev)
	if err != nil || drop <= rev {
		t.Fatalf("Delete at the current revision %d = %d, %v", rev, drop, err)
	}
	for i, node := range nodes {
		st, got := load(t, node, room)
		if got != drop {
			t.Errorf("node %d: revision %d after the drop; want %d", i, got, drop)
		}
		if diff := cmp.Diff(live.Tombstone(), st); diff != "" {
			t.Errorf("node %d: state after the drop (-want tombstone +got):\n%s", i, diff)
		}
		if st.Live() || len(st.Members) != 0 || st.Floor != live.Base+41 {
			t.Errorf("node %d: dropped room live %v, members %d, floor %d; want no life, none, %d", i, st.Live(), len(st.Members), st.Floor, live.Base+41)
		}
	}
	// The next life starts above the floor, even with the clock behind.
	again, _, err := chat.UpdateState(a, room, func(st *chat.RoomState) error {
		_, err := st.Seat("o2", "alice", chat.Digest{}, stateTime.Add(-time.Hour), stateLimits)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if again.Base != live.Base+42 || again.Members[0].ID <= live.LastMember {
		t.Errorf("next life: base %d, member %d; want base %d, a member id above %d", again.Base, again.Members[0].ID, live.Base+42, live.LastMember)
	}
}

// watched is what a Watch passed to its function.
type watched struct {
	st  chat.RoomState
	rev chat.Revision
}

// watchState watches room on s until the returned stop is called, which
// returns Watch's error.
func watchState(s chat.StateStore, room string) (<-chan watched, func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan watched, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(ctx, room, func(st chat.RoomState, rev chat.Revision) error {
			ch <- watched{st, rev}
			return nil
		})
	}()
	return ch, func() error { cancel(); return <-done }
}

// await returns the first state from ch that satisfies ok, failing the test
// if revisions go back or none comes within a while.
func await(t *testing.T, ch <-chan watched, what string, ok func(watched) bool) watched {
	t.Helper()
	var last chat.Revision
	timeout := time.After(10 * time.Second)
	for {
		select {
		case w := <-ch:
			if w.rev < last {
				t.Fatalf("watch went back from revision %d to %d", last, w.rev)
			}
			last = w.rev
			if ok(w) {
				return w
			}
		case <-timeout:
			t.Fatalf("watch: no %s within 10 s", what)
		}
	}
}

func testStateWatch(t *testing.T, nodes []chat.StateStore) {
	a, b := nodes[0], nodes[1]
	const room = "watched"
	ch, stop := watchState(b, room)
	await(t, ch, "zero state at first", func(w watched) bool { return w.rev == 0 && w.st.Base == 0 })

	var rev chat.Revision
	for i, name := range []string{"alice", "bob", "carol"} {
		st, r, err := chat.UpdateState(a, room, func(st *chat.RoomState) error {
			_, err := st.Seat(fmt.Sprint("o", i), name, chat.Digest{}, stateTime, stateLimits)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		rev = r
		want := owners(st)
		await(t, ch, "state with "+name, func(w watched) bool { return w.rev == r && cmp.Equal(owners(w.st), want) })
	}
	drop, err := a.Delete(room, rev)
	if err != nil {
		t.Fatal(err)
	}
	await(t, ch, "the drop", func(w watched) bool { return w.rev == drop && !w.st.Live() && w.st.Floor > 0 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch after its context ended: %v; want context.Canceled", err)
	}

	// A watcher of a room that has a state starts with it; fn's error ends
	// Watch and is returned.
	enough := errors.New("enough")
	var first watched
	err = a.Watch(context.Background(), room, func(st chat.RoomState, rev chat.Revision) error {
		first = watched{st, rev}
		return enough
	})
	if !errors.Is(err, enough) || first.rev != drop {
		t.Errorf("Watch whose fn failed at once: %v, first revision %d; want enough, %d", err, first.rev, drop)
	}
}
