package natslog

import (
	"context"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog/natstest"
)

// Forget lets go of the room's client-id index; the next append with a
// client id builds it again from the room, so a repeat is still found.
func TestForgetDropsTheIndex(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	l, err := New(context.Background(), Config{Conn: natstest.Connect(t, srv), RoomToken: natstest.Token})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append("lobby", 0, chat.Record{ID: 1, CID: "c1", Sealed: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	indexes := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.cids)
	}
	if indexes() != 1 {
		t.Fatalf("%d indexes after an append with a client id, want 1", indexes())
	}
	l.Forget("lobby")
	if indexes() != 0 {
		t.Fatalf("%d indexes after Forget, want 0", indexes())
	}
	got, appended, err := l.Append("lobby", 1, chat.Record{ID: 2, CID: "c1", Sealed: []byte("y")})
	if err != nil || appended || got.ID != 1 {
		t.Errorf("a repeat after Forget: %+v, appended %v, %v; want record 1 back", got, appended, err)
	}
}
