package chat

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0     = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	lim    = StateLimits{MaxMembers: 3, MaxOwnNames: 2}
	botKey = Digest{1, 2, 3}
)

// seated returns a state in which each of names is seated, owned by owner
// "o"+its index, one second apart from t0.
func seated(t *testing.T, names ...string) RoomState {
	t.Helper()
	var s RoomState
	for i, n := range names {
		if _, err := s.Seat("o"+string(rune('0'+i)), n, Digest{}, t0.Add(time.Duration(i)*time.Second), lim); err != nil {
			t.Fatalf("Seat(%q): %v", n, err)
		}
	}
	return s
}

func TestSeat(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before      []string // seated first, by owners o0, o1, …
		owner, seat string
		token       Digest
		want        error
	}{
		{"first", nil, "a", "alice", Digest{}, nil},
		{"other name", []string{"alice"}, "a", "bob", Digest{}, nil},
		{"same name", []string{"alice"}, "a", "alice", Digest{}, ErrNameTaken},
		{"case variant", []string{"alice"}, "a", "ALICE", Digest{}, ErrNameTaken},
		{"capital I for l", []string{"alice"}, "a", "aIice", Digest{}, ErrNameTaken},
		{"cyrillic look-alike", []string{"ape"}, "a", "аре", Digest{}, ErrNameTaken},
		{"invalid name", nil, "a", "al\u202eice", Digest{}, ErrInvalidName},
		{"room full", []string{"a1", "a2", "a3"}, "a", "bob", Digest{}, ErrRoomFull},
		{"bot", nil, "bearer:x", "bot", botKey, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seated(t, tc.before...)
			_, err := s.Seat(tc.owner, tc.seat, tc.token, t0.Add(time.Minute), lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Seat = %v; want %v", err, tc.want)
			}
		})
	}
}

func TestSeatOwnNames(t *testing.T) {
	var s RoomState
	for _, n := range []string{"a1", "a2"} {
		if _, err := s.Seat("me", n, Digest{}, t0, lim); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Seat("me", "a3", Digest{}, t0, lim); !errors.Is(err, ErrTooManyNames) {
		t.Fatalf("third own name: %v; want ErrTooManyNames", err)
	}
	if _, err := s.Seat("you", "a3", Digest{}, t0, lim); err != nil {
		t.Fatalf("another owner's name: %v", err)
	}
}

func TestSeatRecordsJoin(t *testing.T) {
	var s RoomState
	m, err := s.Seat("me", " Alice ", Digest{}, t0, lim)
	if err != nil {
		t.Fatal(err)
	}
	base := uint64(t0.UnixMicro())
	want := RoomState{
		Base: base, Newest: base - 1, LastMember: base, Seq: 1, Touched: t0,
		Members: []StateMember{{
			ID: base, Owner: "me", Name: "Alice", Key: "alice", Looks: lookAlikes("Alice", "alice"),
			Shown: Online, AwaySince: t0,
		}},
		Pending:        []Pending{{N: 1, Kind: KindJoin, Member: base, Name: "Alice", Time: t0, CID: strconv.FormatUint(base, 10) + "/join"}},
		LastTransition: 1,
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("state after Seat (-want +got):\n%s", diff)
	}
	if m.ID != base {
		t.Errorf("member id %d; want %d", m.ID, base)
	}
	if _, err := ClientID(s.Pending[0].CID); err != nil {
		t.Errorf("pending CID %q is not a valid log CID: %v", s.Pending[0].CID, err)
	}
}

func TestLeaveFindToken(t *testing.T) {
	s := seated(t, "alice", "bob")
	bot, err := s.Seat("bearer:x", "robot", botKey, t0, lim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seat("bearer:y", "robot2", botKey, t0, StateLimits{MaxMembers: 9, MaxOwnNames: 9}); !errors.Is(err, errBearerInUse) {
		t.Errorf("second member with one token: %v; want errBearerInUse", err)
	}
	if got, ok := s.ByToken(botKey); !ok || got.ID != bot.ID {
		t.Errorf("ByToken = %v, %v; want member %d", got.ID, ok, bot.ID)
	}
	if _, ok := s.ByToken(Digest{}); ok {
		t.Error("ByToken(zero) found a browser's member")
	}
	alice, _ := s.Find("o0", 0)
	if _, err := s.Leave("o1", alice.ID, t0); !errors.Is(err, ErrNotMember) {
		t.Errorf("Leave of another owner's member: %v; want ErrNotMember", err)
	}
	if _, err := s.Leave("o0", 0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Find("o0", alice.ID); ok {
		t.Error("alice still found after leaving")
	}
	last := s.Pending[len(s.Pending)-1]
	if diff := cmp.Diff(Pending{N: 4, Kind: KindLeave, Member: alice.ID, Name: "alice", Time: t0.Add(time.Hour), CID: last.CID}, last); diff != "" {
		t.Errorf("pending leave (-want +got):\n%s", diff)
	}
	// The name is free again.
	if _, err := s.Seat("o9", "Alice", Digest{}, t0, lim); err != nil {
		t.Errorf("Seat of a departed name: %v", err)
	}
}

func TestPresence(t *testing.T) {
	const grace, timeout = 5 * time.Second, time.Minute
	type step struct {
		at      time.Duration // after t0
		do      func(s *RoomState, id uint64) bool
		changed bool
		shown   Presence // after Refresh (or Expire)
		gone    bool     // Expire removed the member
	}
	keep := func(node string, p Presence) func(*RoomState, uint64) bool {
		return func(s *RoomState, id uint64) bool { return s.Keep(id, node, p, t0) }
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"online until grace without streams", []step{
			{at: 0, do: nil, shown: Online},
			{at: grace, do: nil, shown: Away},
			{at: timeout, do: nil, gone: true},
		}},
		{"visible on one node, hidden on another", []step{
			{do: keep("n1", Idle), changed: true, shown: Idle},
			{do: keep("n2", Online), changed: true, shown: Online},
			{do: keep("n2", Online), changed: false, shown: Online},
			{do: keep("n2", Away), changed: true, shown: Idle},
			{at: timeout, do: nil, shown: Idle},
		}},
		{"last node closes: away after grace", []step{
			{do: keep("n1", Online), changed: true, shown: Online},
			{do: keep("n1", Away), changed: true, shown: Online},
			{at: grace, do: nil, shown: Away},
		}},
		{"closing a node that kept nothing", []step{
			{do: keep("n1", Away), changed: false, shown: Online},
		}},
		{"crashed node forgotten", []step{
			{do: keep("n1", Online), changed: true, shown: Online},
			{at: timeout, do: func(s *RoomState, _ uint64) bool { return s.ForgetNode("n1", t0.Add(timeout)) }, changed: true, shown: Online},
			{at: timeout + grace, do: nil, shown: Away},
			{at: 2 * timeout, do: nil, gone: true},
		}},
		{"posting keeps it", []step{
			{at: grace, do: nil, shown: Away},
			{at: timeout - time.Second, do: func(s *RoomState, id uint64) bool { return s.Posted(id, t0.Add(timeout-time.Second)) }, changed: true, shown: Away},
			{at: timeout, do: nil, shown: Away},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seated(t, "alice")
			id := s.Members[0].ID
			for i, st := range tc.steps {
				if st.do != nil {
					if got := st.do(&s, id); got != st.changed {
						t.Errorf("step %d: changed %v; want %v", i, got, st.changed)
					}
				}
				removed, _ := s.Expire(t0.Add(st.at), grace, timeout)
				if st.gone != (len(removed) == 1) {
					t.Fatalf("step %d: removed %v; want gone %v", i, removed, st.gone)
				}
				if st.gone {
					return
				}
				if got := s.List()[0].State; got != st.shown {
					t.Errorf("step %d: shown %v; want %v", i, got, st.shown)
				}
			}
		})
	}
}

func TestRefreshCountsSeq(t *testing.T) {
	s := seated(t, "bob", "alice")
	seq := s.Seq
	if s.Refresh(t0, time.Hour) || s.Seq != seq {
		t.Errorf("a refresh that changes nothing moved Seq %d → %d", seq, s.Seq)
	}
	if !s.Refresh(t0.Add(2*time.Hour), time.Hour) || s.Seq != seq+1 {
		t.Errorf("two members shown away: Seq %d → %d; want one step", seq, s.Seq)
	}
	want := []Member{{ID: s.Members[1].ID, Name: "alice"}, {ID: s.Members[0].ID, Name: "bob"}}
	if diff := cmp.Diff(want, s.List()); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestLives(t *testing.T) {
	later := t0.Add(time.Hour)
	for _, tc := range []struct {
		name      string
		newest    uint64 // Observed before the drop
		logNewest uint64 // the log's newest when the next life begins
		at        time.Time
		wantBase  uint64
	}{
		{"clock ahead of the old ids", uint64(t0.UnixMicro()) + 10, 0, later, uint64(later.UnixMicro())},
		{"old ids ahead of the clock", uint64(later.UnixMicro()) + 500, 0, later, uint64(later.UnixMicro()) + 501},
		{"log ahead of both", 0, uint64(later.UnixMicro()) + 900, later, uint64(later.UnixMicro()) + 901},
		{"clock went back", 0, 0, t0.Add(-time.Hour), uint64(t0.UnixMicro())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seated(t, "alice")
			lastMember := s.LastMember
			s.Observe(tc.newest)
			if _, err := s.Leave("o0", 0, t0); err != nil {
				t.Fatal(err)
			}
			dead := s.Tombstone()
			if dead.Live() || len(dead.Members) != 0 || dead.Floor < s.Newest || dead.LastMember != lastMember {
				t.Fatalf("Tombstone = %+v", dead)
			}
			if !dead.Begin(tc.at, tc.logNewest) || dead.Base != tc.wantBase || dead.Newest != tc.wantBase-1 {
				t.Errorf("Begin: base %d newest %d; want %d", dead.Base, dead.Newest, tc.wantBase)
			}
			if dead.Begin(tc.at, 0) {
				t.Error("Begin of a live room began again")
			}
			m, err := dead.Seat("o0", "alice", Digest{}, tc.at, lim)
			if err != nil {
				t.Fatal(err)
			}
			if m.ID <= lastMember {
				t.Errorf("member id %d of the new life repeats one up to %d", m.ID, lastMember)
			}
		})
	}
}

func TestRepair(t *testing.T) {
	p := func(n, member uint64, kind Kind, age time.Duration) Pending {
		return Pending{N: n, Kind: kind, Member: member, Time: t0.Add(-age)}
	}
	const after = 10 * time.Second
	for _, tc := range []struct {
		name    string
		pending []Pending
		want    []uint64 // N of the entries due, in order
	}{
		{"none", nil, nil},
		{"young", []Pending{p(1, 1, KindJoin, time.Second)}, nil},
		{"old", []Pending{p(1, 1, KindJoin, time.Minute)}, []uint64{1}},
		{"exactly the grace", []Pending{p(1, 1, KindJoin, after)}, []uint64{1}},
		{"in decision order", []Pending{p(3, 2, KindLeave, time.Minute), p(1, 1, KindJoin, time.Hour), p(2, 2, KindJoin, time.Hour)}, []uint64{1, 2, 3}},
		{"a young join holds back its member's later leave", []Pending{p(1, 1, KindJoin, time.Second), p(2, 1, KindLeave, time.Minute), p(3, 2, KindJoin, time.Minute)}, []uint64{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			for _, d := range Repair(tc.pending, t0, after) {
				got = append(got, d.N)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Repair (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	s := seated(t, "alice", "bob")
	if !s.Settle(1) || s.Settle(1) {
		t.Error("Settle(1) twice: want true, then false")
	}
	if diff := cmp.Diff([]uint64{2}, []uint64{s.Pending[0].N}); diff != "" || len(s.Pending) != 1 {
		t.Errorf("pending after Settle(1): %+v", s.Pending)
	}
	if got := s.Pending[0].Event(); got.Kind != KindJoin || got.Name != "bob" || got.Member != s.Members[1].ID {
		t.Errorf("Event() = %+v", got)
	}
}

// conflicting is a store whose first n updates lose to another writer.
type conflicting struct {
	*MemoryStateStore
	n int
}

func (c *conflicting) Update(room string, expect Revision, s RoomState) (Revision, error) {
	if c.n > 0 {
		c.n--
		// Another writer gets there first.
		if _, err := c.MemoryStateStore.Update(room, expect, RoomState{Seq: 100 + uint64(c.n)}); err != nil {
			return 0, err
		}
	}
	return c.MemoryStateStore.Update(room, expect, s)
}

func TestUpdateState(t *testing.T) {
	for _, tc := range []struct {
		name      string
		conflicts int
		fnErr     error
		want      error
		wrote     bool
	}{
		{"no conflict", 0, nil, nil, true},
		{"some conflicts", 3, nil, nil, true},
		{"as many as allowed", maxStateConflicts, nil, nil, true},
		{"too many", maxStateConflicts + 1, nil, ErrStateBusy, false},
		{"fn refuses", 0, ErrNameTaken, ErrNameTaken, false},
		{"fn changes nothing", 0, ErrNoChange, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &conflicting{NewMemoryStateStore(), tc.conflicts}
			calls := 0
			s, rev, err := UpdateState(store, "r", func(s *RoomState) error {
				calls++
				s.Touched = t0
				return tc.fnErr
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("UpdateState: %v; want %v", err, tc.want)
			}
			stored, storedRev, _ := store.Load("r")
			if got := stored.Touched.Equal(t0); got != tc.wrote {
				t.Errorf("stored %+v; wrote %v, want %v", stored, got, tc.wrote)
			}
			if tc.wrote && (rev != storedRev || !s.Touched.Equal(t0)) {
				t.Errorf("returned revision %d, stored %d", rev, storedRev)
			}
			if want := min(tc.conflicts, maxStateConflicts) + 1; calls != want {
				t.Errorf("fn called %d times; want %d", calls, want)
			}
		})
	}
}
