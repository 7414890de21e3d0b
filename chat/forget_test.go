package chat

import "testing"

// forgetCounter is a MemoryLog that counts Forget calls per room.
type forgetCounter struct {
	*MemoryLog
	forgot map[string]int
}

func (f *forgetCounter) Forget(room string) { f.forgot[room]++ }

// A room the hub drops is forgotten by a log that keeps something per room.
func TestDroppedRoomIsForgottenByTheLog(t *testing.T) {
	lg := &forgetCounter{MemoryLog: NewMemoryLog(DefaultHistory), forgot: map[string]int{}}
	h, _, clk := newTestHub(t, Config{Log: lg})
	m := mustJoin(t, h, "o", "lobby", "alice")
	if err := h.Leave("o", "lobby", m.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(DefaultRoomIdle)
	if err := h.Sweep(); err != nil {
		t.Fatal(err)
	}
	if h.Rooms() != 0 || lg.forgot["lobby"] != 1 {
		t.Errorf("after the drop: %d rooms, the log told to forget lobby %d times; want 0 and 1", h.Rooms(), lg.forgot["lobby"])
	}
}
