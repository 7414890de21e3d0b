package chattest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/google/go-cmp/cmp"
)

// NewOwnerIndexes returns n OwnerIndexes over one empty shared index, each
// as a separate node would have it. TestOwnerIndex calls it once per
// subtest.
type NewOwnerIndexes func(t *testing.T, n int) []chat.OwnerIndex

// TestOwnerIndex runs the contract of chat.OwnerIndex against the indexes
// newIndexes makes: rooms kept oldest first, once each, at most
// chat.MaxOwnerRooms; a Move that merges into the new owner's entry and
// removes the old one only at the revision it was decided on; and adds to
// one owner from two nodes at once that all take effect.
func TestOwnerIndex(t *testing.T, newIndexes NewOwnerIndexes) {
	t.Run("order", func(t *testing.T) { testOwnerOrder(t, newIndexes(t, 1)[0]) })
	t.Run("bound", func(t *testing.T) { testOwnerBound(t, newIndexes(t, 1)[0]) })
	t.Run("move", func(t *testing.T) { testOwnerMove(t, newIndexes(t, 2)) })
	t.Run("adds from two nodes", func(t *testing.T) { testOwnerRace(t, newIndexes(t, 2)) })
}

func ownerRooms(t *testing.T, ix chat.OwnerIndex, owner string) ([]string, chat.Revision) {
	t.Helper()
	rooms, rev, err := ix.Rooms(owner)
	if err != nil {
		t.Fatalf("Rooms(%q): %v", owner, err)
	}
	return rooms, rev
}

func addRooms(t *testing.T, ix chat.OwnerIndex, owner string, rooms ...string) {
	t.Helper()
	for _, r := range rooms {
		if err := ix.AddRoom(owner, r); err != nil {
			t.Fatalf("AddRoom(%q, %q): %v", owner, r, err)
		}
	}
}

func testOwnerOrder(t *testing.T, ix chat.OwnerIndex) {
	if rooms, rev := ownerRooms(t, ix, "o"); len(rooms) != 0 || rev != 0 {
		t.Fatalf("a new owner has %v at revision %d, want nothing at 0", rooms, rev)
	}
	addRooms(t, ix, "o", "a", "b", "c", "a")
	addRooms(t, ix, "other", "z")
	rooms, rev := ownerRooms(t, ix, "o")
	if diff := cmp.Diff([]string{"b", "c", "a"}, rooms); diff != "" {
		t.Errorf("rooms, oldest first (-want +got):\n%s", diff)
	}
	if rev == 0 {
		t.Error("an entry at revision 0")
	}
	// Its newest room again writes nothing.
	addRooms(t, ix, "o", "a")
	if _, again := ownerRooms(t, ix, "o"); again != rev {
		t.Errorf("revision %d after adding the newest room again, want %d", again, rev)
	}
	if rooms, _ := ownerRooms(t, ix, "other"); !cmp.Equal([]string{"z"}, rooms) {
		t.Errorf("another owner's rooms: %v, want [z]", rooms)
	}
}

// fakeRooms returns n room names from prefix.
func fakeRooms(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func testOwnerBound(t *testing.T, ix chat.OwnerIndex) {
	all := fakeRooms("r", chat.MaxOwnerRooms+2)
	addRooms(t, ix, "o", all...)
	rooms, _ := ownerRooms(t, ix, "o")
	if diff := cmp.Diff(all[2:], rooms); diff != "" {
		t.Errorf("rooms past the bound (-want +got):\n%s", diff)
	}
	// A room already held moves to the end without dropping another.
	addRooms(t, ix, "o", all[2])
	rooms, _ = ownerRooms(t, ix, "o")
	if diff := cmp.Diff(append(slices.Clone(all[3:]), all[2]), rooms); diff != "" {
		t.Errorf("rooms after refreshing the oldest (-want +got):\n%s", diff)
	}
}

func testOwnerMove(t *testing.T, nodes []chat.OwnerIndex) {
	a, b := nodes[0], nodes[1]
	addRooms(t, a, "old", "x", "y")
	addRooms(t, b, "new", "w", "x")
	_, rev := ownerRooms(t, b, "old")
	// Another node adds to old's entry after it was read: the move loses.
	addRooms(t, b, "old", "z")
	if err := a.Move("old", rev, "new", []string{"x", "y"}); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("Move at a stale revision: %v, want %v", err, chat.ErrConflict)
	}
	if rooms, _ := ownerRooms(t, a, "old"); !cmp.Equal([]string{"x", "y", "z"}, rooms) {
		t.Errorf("old's rooms after a lost move: %v, want [x y z]", rooms)
	}
	// Read again, it wins: new's entry gains the rooms, old's is gone.
	_, rev = ownerRooms(t, a, "old")
	if err := a.Move("old", rev, "new", []string{"x", "y", "z"}); err != nil {
		t.Fatalf("Move: %v", err)
	}
	for _, ix := range nodes {
		if rooms, rev := ownerRooms(t, ix, "old"); len(rooms) != 0 || rev != 0 {
			t.Errorf("old has %v at revision %d after the move, want nothing at 0", rooms, rev)
		}
		rooms, _ := ownerRooms(t, ix, "new")
		if diff := cmp.Diff([]string{"w", "x", "y", "z"}, rooms); diff != "" {
			t.Errorf("new's rooms after the move (-want +got):\n%s", diff)
		}
	}
	// An owner with no entry moves at revision 0, unless it gained one.
	if err := a.Move("none", 0, "new", nil); err != nil {
		t.Errorf("Move of an owner with no entry: %v", err)
	}
	addRooms(t, b, "late", "v")
	if err := a.Move("late", 0, "new", nil); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("Move at revision 0 of an owner that has an entry: %v, want %v", err, chat.ErrConflict)
	}
	// An owner may move again to a fresh one, and its entry may be made
	// again after a move.
	_, rev = ownerRooms(t, a, "new")
	if err := b.Move("new", rev, "newer", []string{"y"}); err != nil {
		t.Fatalf("Move again: %v", err)
	}
	addRooms(t, a, "new", "u")
	if rooms, _ := ownerRooms(t, b, "new"); !cmp.Equal([]string{"u"}, rooms) {
		t.Errorf("an entry made again after its move: %v, want [u]", rooms)
	}
}

func testOwnerRace(t *testing.T, nodes []chat.OwnerIndex) {
	const each = 12
	var want []string
	var wg sync.WaitGroup
	for i, ix := range nodes {
		rooms := fakeRooms(fmt.Sprintf("n%d", i), each)
		want = append(want, rooms...)
		wg.Go(func() {
			for _, r := range rooms {
				if err := ix.AddRoom("o", r); err != nil {
					t.Errorf("AddRoom(%q): %v", r, err)
				}
			}
		})
	}
	wg.Wait()
	got, _ := ownerRooms(t, nodes[0], "o")
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rooms added from two nodes at once (-want +got):\n%s", diff)
	}
}
