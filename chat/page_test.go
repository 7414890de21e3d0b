package chat

import (
	"errors"
	"fmt"
	"testing"
)

// overflowedRoom is a hub whose room "lobby" keeps the last 30 of its 41
// events: messages m10…m39 by Alice.
func overflowedRoom(t *testing.T) *Hub {
	t.Helper()
	h, _, _ := newTestHub(t, Config{History: 30})
	mustJoin(t, h, "a", "lobby", "Alice")
	for i := range 40 {
		if _, err := h.Post("a", "lobby", 0, fmt.Sprint("m", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestHistoryPages(t *testing.T) {
	h := overflowedRoom(t)
	// The room keeps the last 30 of its 41 events: walk back from the
	// newest 7 at a time and every kept event must come once, in order.
	var got []Event
	before := uint64(0)
	pages := 0
	for {
		p, err := h.History("LOBBY", before, 7)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(p.Events, got...)
		if p.Start {
			break
		}
		if len(p.Events) == 0 {
			t.Fatal("empty page that is not the start")
		}
		before = p.Events[0].ID
	}
	if pages != 5 || len(got) != 30 {
		t.Fatalf("%d pages, %d events; want 5 pages, 30 events", pages, len(got))
	}
	for i, ev := range got {
		if want := fmt.Sprint("m", 10+i); ev.Text != want || (i > 0 && ev.ID != got[i-1].ID+1) {
			t.Fatalf("event %d = %d %q, want %q after %d", i, ev.ID, ev.Text, want, got[max(i-1, 0)].ID)
		}
	}
	last, err := h.History("lobby", 0, 1)
	if err != nil || len(last.Events) != 1 || last.Last != got[29].ID || last.Events[0].ID != last.Last || last.Start {
		t.Fatalf("newest page = %+v, %v; want just event %d", last, err, got[29].ID)
	}
	// Asking from past the newest is asking for the newest.
	if p, err := h.History("lobby", last.Last+100, 2); err != nil || len(p.Events) != 2 || p.Events[1].ID != last.Last {
		t.Fatalf("page before %d = %+v, %v", last.Last+100, p, err)
	}
}

func TestHistoryErrors(t *testing.T) {
	h, _, _ := newTestHub(t, Config{})
	mustJoin(t, h, "a", "lobby", "Alice")
	tests := []struct {
		room  string
		limit int
		want  error
	}{
		{"lobby", 0, ErrInvalidLimit},
		{"lobby", MaxPage + 1, ErrInvalidLimit},
		{"no such", 10, ErrInvalidRoom},
		{"nobody", 10, ErrNoRoom},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.room, tt.limit), func(t *testing.T) {
			if _, err := h.History(tt.room, 0, tt.limit); !errors.Is(err, tt.want) {
				t.Errorf("History(%q, 0, %d) = %v, want %v", tt.room, tt.limit, err, tt.want)
			}
		})
	}
	p, err := h.History("lobby", 0, MaxPage)
	if err != nil || len(p.Events) != 1 || !p.Start {
		t.Errorf("one-event room = %+v, %v; want its join and Start", p, err)
	}
}

func TestHistoryAfter(t *testing.T) {
	h := overflowedRoom(t)
	// From before what is kept, pages of 7 forward meet every kept event
	// once, in order; the first page says it began at the oldest.
	var got []Event
	after := uint64(1)
	for page := 0; ; page++ {
		p, err := h.After("lobby", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if p.Start != (page == 0) {
			t.Fatalf("page %d: Start = %v", page, p.Start)
		}
		if len(p.Events) == 0 {
			break
		}
		got = append(got, p.Events...)
		after = p.Events[len(p.Events)-1].ID
	}
	if len(got) != 30 || got[0].Text != "m10" || got[29].Text != "m39" {
		t.Fatalf("walked %d events, %q…%q; want 30, m10…m39", len(got), got[0].Text, got[len(got)-1].Text)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID != got[i-1].ID+1 {
			t.Fatalf("event %d has id %d after %d", i, got[i].ID, got[i-1].ID)
		}
	}
	if _, err := h.After("lobby", 0, 0); !errors.Is(err, ErrInvalidLimit) {
		t.Errorf("limit 0 = %v, want ErrInvalidLimit", err)
	}
	if _, err := h.After("nobody", 0, 5); !errors.Is(err, ErrNoRoom) {
		t.Errorf("a room that does not exist = %v, want ErrNoRoom", err)
	}
}
