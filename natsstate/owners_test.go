package natsstate

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

func TestOwnerIndexConformance(t *testing.T) {
	chattest.TestOwnerIndex(t, func(t *testing.T, n int) []chat.OwnerIndex {
		srv := natstest.Start(t, t.TempDir(), -1)
		box := newBox(t)
		nodes := make([]chat.OwnerIndex, n)
		for i := range nodes {
			nodes[i] = newStore(t, natstest.Connect(t, srv), box, natslog.Memory)
		}
		return nodes
	})
}

// An owner's key holds a token and its value sealed bytes: no owner, no
// room name; an entry copied to another owner's key does not open there,
// and a moved entry's key is gone.
func TestOwnerEntrySealed(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, srv)
	s := newStore(t, nc, newBox(t), natslog.Memory)
	const owner, room = "owner-hmac", "secret.room"
	if err := s.AddRoom(owner, room); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := "owner." + natstest.Token(ownerPrefix+owner)
	if diff := cmp.Diff([]string{key}, keys); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	e, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{owner, room, "rooms"} {
		if bytes.Contains(e.Value(), []byte(clear)) {
			t.Errorf("the stored entry holds %q in the clear", clear)
		}
	}
	if _, err := kv.Put(ctx, "owner."+natstest.Token(ownerPrefix+"other"), e.Value()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rooms("other"); err == nil {
		t.Error("an entry copied from another owner's key opened")
	}
	_, rev, err := s.Rooms(owner)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Move(owner, rev, "next", []string{room}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the moved entry's key: %v, want %v", err, jetstream.ErrKeyNotFound)
	}
}
