package chat

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A bearer's member is found by its digest until it is gone, whichever way it
// goes, and the digest then finds nothing.
func TestBearerDiesWithMember(t *testing.T) {
	tests := []struct {
		name string
		gone func(t *testing.T, h *Hub, clk *clock, hd Holder)
	}{
		{"leave", func(t *testing.T, h *Hub, _ *clock, hd Holder) {
			must(t, h.Leave(hd.Owner, hd.Room, hd.Member))
		}},
		{"away timeout", func(t *testing.T, h *Hub, clk *clock, _ Holder) {
			clk.Add(2 * time.Minute)
			must(t, h.Sweep())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, clk := newTestHub(t, Config{AwayTimeout: time.Minute, RoomIdle: time.Minute})
			d := Digest{1, 2, 3}
			m, err := h.JoinBearer(d, "lobby", "bot")
			if err != nil {
				t.Fatal(err)
			}
			hd, ok := h.Bearer(d)
			if !ok {
				t.Fatal("Bearer found nothing after JoinBearer")
			}
			if diff := cmp.Diff(Holder{Owner: bearerOwner(d), Room: "lobby", Member: m.ID}, hd); diff != "" {
				t.Fatalf("Holder (-want +got):\n%s", diff)
			}
			if _, err := h.Post(hd.Owner, "lobby", hd.Member, "hello", ""); err != nil {
				t.Fatalf("Post as the bearer: %v", err)
			}
			tt.gone(t, h, clk, hd)
			if _, ok := h.Bearer(d); ok || h.bearerCount() != 0 {
				t.Fatalf("Bearer still finds the member (%d live)", h.bearerCount())
			}
			if _, ok := h.Departed(hd.Owner, "lobby"); ok {
				t.Error("a bearer's departure was remembered")
			}
			clk.Add(2 * time.Minute)
			must(t, h.Sweep())
			if h.Rooms() != 0 {
				t.Errorf("rooms = %d after the bearer's member went; want the room dropped", h.Rooms())
			}
		})
	}
}

// A digest is never shared by two members, and a browser's session cannot
// act as a bearer's member.
func TestBearerOwnership(t *testing.T) {
	h, _, _ := newTestHub(t, Config{})
	d := Digest{9}
	m, err := h.JoinBearer(d, "lobby", "bot")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.JoinBearer(d, "lobby", "bot2"); !errors.Is(err, errBearerInUse) {
		t.Errorf("second JoinBearer with one digest: %v, want errBearerInUse", err)
	}
	if _, err := h.Post("browser", "lobby", m.ID, "hi", ""); !errors.Is(err, ErrNotMember) {
		t.Errorf("a browser posting as the bearer's member: %v, want ErrNotMember", err)
	}
}
