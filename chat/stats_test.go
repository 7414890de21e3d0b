package chat

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Each step changes the hub's Stats by exactly what it did, and refusals
// count under their own limit.
func TestStats(t *testing.T) {
	h, _, clk := newTestHub(t, Config{MaxRooms: 2, MaxMembers: 3, MaxOwnNames: 2, MaxReaders: 1, AwayTimeout: time.Minute})
	var detach func()
	var first uint64 // the lobby's first event, the join
	steps := []struct {
		name string
		do   func() error
		want error // what do returns
		// change is applied to the Stats before the step to get the
		// Stats after it.
		change func(*Stats)
	}{
		{"join", func() error { _, err := h.Join("a", "lobby", "alice"); return err }, nil, func(s *Stats) { s.Rooms++; s.Members++; s.Joins++ }},
		{"post", func() error {
			ev, err := h.Post("a", "lobby", 0, "hello", "")
			first = ev.ID - 1
			return err
		}, nil, func(s *Stats) { s.Posts++ }},
		{"post under a client id", func() error { _, err := h.Post("a", "lobby", 0, "again", "c1"); return err }, nil,
			func(s *Stats) { s.Posts++ }},
		{"the same post sent again", func() error { _, err := h.Post("a", "lobby", 0, "again", "c1"); return err }, nil,
			func(*Stats) {}},
		{"a second name", func() error { _, err := h.Join("a", "lobby", "alicia"); return err }, nil,
			func(s *Stats) { s.Members++; s.Joins++ }},
		{"a third name from one browser", func() error { _, err := h.Join("a", "lobby", "alba"); return err }, ErrTooManyNames,
			func(s *Stats) { s.RefusedOwnNames++ }},
		{"a third member", func() error { _, err := h.Join("b", "lobby", "bob"); return err }, nil,
			func(s *Stats) { s.Members++; s.Joins++ }},
		{"a full room", func() error { _, err := h.Join("c", "lobby", "carol"); return err }, ErrRoomFull,
			func(s *Stats) { s.RefusedMembers++ }},
		{"a second room", func() error { _, err := h.Join("c", "other", "carol"); return err }, nil,
			func(s *Stats) { s.Rooms++; s.Members++; s.Joins++ }},
		{"a third room", func() error { _, err := h.Join("c", "third", "carol"); return err }, ErrTooManyRooms,
			func(s *Stats) { s.RefusedRooms++ }},
		{"a stream", func() (err error) { detach, err = h.Attach("b", "lobby"); return err }, nil,
			func(s *Stats) { s.Streams++ }},
		{"a stream over the limit", func() error { _, err := h.Attach("b", "other"); return err }, ErrTooManyReaders,
			func(s *Stats) { s.RefusedStreams++ }},
		{"the stream ends", func() error { detach(); return nil }, nil,
			func(s *Stats) { s.Streams-- }},
		{"a backlog from its first event", func() error {
			b, err := h.Backlog("lobby", first)
			if err == nil {
				_ = collect(t, b)
			}
			return err
		}, nil, func(s *Stats) { s.BacklogEvents += 4 }}, // two posts, two joins after it
		{"a backlog from a made-up id", func() error {
			b, err := h.Backlog("lobby", 1)
			if err == nil {
				_ = collect(t, b)
			}
			return err
		}, nil, func(s *Stats) { s.BacklogEvents += 5; s.BacklogResets++ }},
		{"leave", func() error { return h.Leave("b", "lobby", 0) }, nil,
			func(s *Stats) { s.Members-- }},
		{"away too long", func() error { clk.Add(2 * time.Minute); return h.Sweep() }, nil,
			func(s *Stats) { s.Members -= 3 }},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			want := h.Stats()
			step.change(&want)
			if err := step.do(); !errors.Is(err, step.want) {
				t.Fatalf("got error %v, want %v", err, step.want)
			}
			if diff := cmp.Diff(want, h.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}
