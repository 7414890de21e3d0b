package chat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/chat/chattest"
	"github.com/google/go-cmp/cmp"
)

// One MemoryStateStore serves every "node": it is a single node's store.
func TestMemoryStateStore(t *testing.T) {
	chattest.TestStateStore(t, func(_ *testing.T, n int) []chat.StateStore {
		s := chat.NewMemoryStateStore()
		nodes := make([]chat.StateStore, n)
		for i := range nodes {
			nodes[i] = s
		}
		return nodes
	})
}

func TestCheckNode(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"node-1_EU", true},
		{strings.Repeat("n", 64), true},
		{"", false},
		{strings.Repeat("n", 65), false},
		{"a.b", false},
		{"a/b", false},
		{"a b", false},
		{"a*", false},
		{"a>", false},
		{"nœud", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := chat.CheckNode(tt.name)
			if (err == nil) != tt.ok || err != nil && !errors.Is(err, chat.ErrNodeName) {
				t.Errorf("CheckNode(%q) = %v, want ok %v", tt.name, err, tt.ok)
			}
		})
	}
}

// The registry keeps each name's newest run: a node that came back under
// its name at once leaves its former run dead.
func TestMemoryNodeRegistry(t *testing.T) {
	s := chat.NewMemoryStateStore()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ttl := 8 * time.Second
	for _, b := range []struct {
		node string
		at   time.Duration
	}{{"a/1", 0}, {"b/1", 0}, {"b/2", 2 * time.Second}, {"c/1", 5 * time.Second}} {
		if err := s.Beat(b.node, t0.Add(b.at)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Beat("c", t0); !errors.Is(err, chat.ErrNodeName) {
		t.Errorf("Beat without a run: %v, want %v", err, chat.ErrNodeName)
	}
	alive, known, err := s.Alive(t0.Add(ttl), ttl)
	if err != nil || !known {
		t.Fatalf("Alive: %v, known %v", err, known)
	}
	if diff := cmp.Diff(map[string]bool{"b/2": true, "c/1": true}, alive); diff != "" {
		t.Errorf("alive (-want +got):\n%s", diff)
	}
}
