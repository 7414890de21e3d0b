package chat

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// walk collects a transcript's events, calling during (if not nil) after
// each one, and returns them with the error the walk ended with.
func walk(t Transcript, batch int, during func(i int)) ([]Event, error) {
	var got []Event
	for ev, err := range t.Events(batch) {
		if err != nil {
			return got, err
		}
		got = append(got, ev)
		if during != nil {
			during(len(got) - 1)
		}
	}
	return got, nil
}

func texts(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Text
	}
	return out
}

// The walk meets every kept event once, in order, whatever the batch.
func TestTranscriptWalk(t *testing.T) {
	h := overflowedRoom(t) // keeps m10…m39
	var want []string
	for i := 10; i < 40; i++ {
		want = append(want, fmt.Sprint("m", i))
	}
	for _, batch := range []int{0, 1, 7, 29, 30, 31, 1000} {
		t.Run(fmt.Sprint("batch ", batch), func(t *testing.T) {
			tr, err := h.Transcript("LOBBY")
			if err != nil {
				t.Fatal(err)
			}
			if tr.Room != "lobby" || tr.Len() != 30 {
				t.Fatalf("transcript of %q spans %d events, want lobby and 30", tr.Room, tr.Len())
			}
			got, err := walk(tr, batch, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, texts(got)); diff != "" {
				t.Errorf("texts (-want +got):\n%s", diff)
			}
			for i, ev := range got {
				if ev.ID != tr.First+uint64(i) || ev.Name != "Alice" || ev.Kind != KindMessage {
					t.Errorf("event %d is %d %v by %q, want message %d by Alice", i, ev.ID, ev.Kind, ev.Name, tr.First+uint64(i))
				}
			}
		})
	}
}

// What is posted once the walk has begun is left out: the transcript ends
// where the room was when it was taken.
func TestTranscriptSnapshot(t *testing.T) {
	h, _, _ := newTestHub(t, Config{})
	mustJoin(t, h, "a", "lobby", "Alice")
	for i := range 5 {
		if _, err := h.Post("a", "lobby", 0, fmt.Sprint("before ", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := h.Transcript("lobby")
	if err != nil {
		t.Fatal(err)
	}
	got, err := walk(tr, 2, func(int) {
		if _, err := h.Post("a", "lobby", 0, "during", ""); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "before 0", "before 1", "before 2", "before 3", "before 4"} // the join has no text
	if diff := cmp.Diff(want, texts(got)); diff != "" {
		t.Errorf("texts (-want +got):\n%s", diff)
	}
	if got[len(got)-1].ID != tr.Last {
		t.Errorf("the walk ended at %d, want Last %d", got[len(got)-1].ID, tr.Last)
	}
}

// A walk that cannot reach its end says why, after what it could read.
func TestTranscriptCutShort(t *testing.T) {
	tests := []struct {
		name string
		// meanwhile runs after the walk's first event, once.
		meanwhile func(t *testing.T, h *Hub, clk *clock)
		want      error
	}{
		{"retention overtakes the walk", func(t *testing.T, h *Hub, _ *clock) {
			for i := range 40 {
				if _, err := h.Post("a", "lobby", 0, fmt.Sprint("flood ", i), ""); err != nil {
					t.Fatal(err)
				}
			}
		}, ErrOvertaken},
		{"the room is dropped", dropLobby, ErrRoomGone},
		{"the room is dropped and made again", func(t *testing.T, h *Hub, clk *clock) {
			dropLobby(t, h, clk)
			mustJoin(t, h, "b", "lobby", "Bob")
		}, ErrRoomGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, clk := newTestHub(t, Config{History: 30})
			mustJoin(t, h, "a", "lobby", "Alice")
			for i := range 20 {
				if _, err := h.Post("a", "lobby", 0, fmt.Sprint("m", i), ""); err != nil {
					t.Fatal(err)
				}
			}
			tr, err := h.Transcript("lobby")
			if err != nil {
				t.Fatal(err)
			}
			got, err := walk(tr, 5, func(i int) {
				if i == 0 {
					tt.meanwhile(t, h, clk)
				}
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("the walk ended with %v, want %v", err, tt.want)
			}
			// The first batch was read before the room changed.
			if len(got) != 5 || got[4].ID != tr.First+4 {
				t.Errorf("read %d events before the error, want the first batch of 5", len(got))
			}
		})
	}
}

// dropLobby has its one member "a" leave the room "lobby" and lets the
// room idle until a sweep drops it.
func dropLobby(t *testing.T, h *Hub, clk *clock) {
	t.Helper()
	if err := h.Leave("a", "lobby", 0); err != nil {
		t.Fatal(err)
	}
	clk.Add(DefaultRoomIdle)
	if err := h.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Transcript("lobby"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("after the sweep the room is still there (%v)", err)
	}
}

func TestTranscriptErrors(t *testing.T) {
	h, _, _ := newTestHub(t, Config{})
	mustJoin(t, h, "a", "lobby", "Alice")
	tests := []struct {
		room string
		want error
	}{
		{"nowhere", ErrNoRoom},
		{"no room!", ErrInvalidRoom},
		{"", ErrInvalidRoom},
	}
	for _, tt := range tests {
		t.Run(tt.room, func(t *testing.T) {
			if _, err := h.Transcript(tt.room); !errors.Is(err, tt.want) {
				t.Errorf("Transcript(%q) = %v, want %v", tt.room, err, tt.want)
			}
		})
	}
}
