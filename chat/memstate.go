package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// MemoryStateStore is the StateStore of a single node: each room's state in
// this process's memory, encoded as a shared store would keep it (so what
// works here also survives the trip through JSON). It is safe for
// concurrent use.
type MemoryStateStore struct {
	mu    sync.Mutex
	last  Revision // of the newest write to any room, as a stream's sequence
	rooms map[string]memState
	wake  map[string]chan struct{} // closed and replaced at each write of the room
	nodes map[string]memBeat       // the newest beat per node name (NodeRegistry)
}

// A memBeat is a node's newest beat: its run, and when, on the beater's
// clock.
type memBeat struct {
	node string
	at   time.Time
}

type memState struct {
	value []byte
	rev   Revision
}

var (
	_ StateStore   = (*MemoryStateStore)(nil)
	_ NodeRegistry = (*MemoryStateStore)(nil)
)

// NewMemoryStateStore returns an empty store.
func NewMemoryStateStore() *MemoryStateStore {
	return &MemoryStateStore{rooms: make(map[string]memState), wake: make(map[string]chan struct{})}
}

// Load implements StateStore.
func (m *MemoryStateStore) Load(room string) (RoomState, Revision, error) {
	m.mu.Lock()
	e := m.rooms[room]
	m.mu.Unlock()
	return decodeState(e)
}

func decodeState(e memState) (RoomState, Revision, error) {
	var s RoomState
	if e.rev == 0 {
		return s, 0, nil
	}
	if err := json.Unmarshal(e.value, &s); err != nil {
		return RoomState{}, 0, fmt.Errorf("chat: decode room state: %w", err)
	}
	return s, e.rev, nil
}

// Update implements StateStore.
func (m *MemoryStateStore) Update(room string, expect Revision, s RoomState) (Revision, error) {
	value, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("chat: encode room state: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rooms[room].rev != expect {
		return 0, ErrConflict
	}
	return m.write(room, value), nil
}

// write stores value as the room's state, with m.mu held, and wakes its
// watchers.
func (m *MemoryStateStore) write(room string, value []byte) Revision {
	m.last++
	m.rooms[room] = memState{value: value, rev: m.last}
	if ch := m.wake[room]; ch != nil {
		close(ch)
		delete(m.wake, room)
	}
	return m.last
}

// Delete implements StateStore.
func (m *MemoryStateStore) Delete(room string, expect Revision) (Revision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.rooms[room]
	if e.rev != expect {
		return 0, ErrConflict
	}
	if expect == 0 {
		return 0, nil
	}
	s, _, err := decodeState(e)
	if err != nil {
		return 0, err
	}
	value, err := json.Marshal(s.Tombstone())
	if err != nil {
		return 0, fmt.Errorf("chat: encode room state: %w", err)
	}
	return m.write(room, value), nil
}

// Watch implements StateStore. Changes that come faster than fn returns
// are passed as the newest of them.
func (m *MemoryStateStore) Watch(ctx context.Context, room string, fn func(RoomState, Revision) error) error {
	var seen Revision
	first := true
	for {
		m.mu.Lock()
		e := m.rooms[room]
		ch := m.wake[room]
		if ch == nil {
			ch = make(chan struct{})
			m.wake[room] = ch
		}
		m.mu.Unlock()
		if first || e.rev > seen {
			first = false
			s, rev, err := decodeState(e)
			if err != nil {
				return err
			}
			if err := fn(s, rev); err != nil {
				return err
			}
			seen = rev
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Beat implements NodeRegistry, on the clock of the Hubs that beat (which
// share one clock when they share one MemoryStateStore, in one process).
func (m *MemoryStateStore) Beat(node string, now time.Time) error {
	name, _, err := SplitNode(node)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodes == nil {
		m.nodes = make(map[string]memBeat)
	}
	m.nodes[name] = memBeat{node: node, at: now}
	return nil
}

// Alive implements NodeRegistry: it always knows.
func (m *MemoryStateStore) Alive(now time.Time, ttl time.Duration) (map[string]bool, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	alive := make(map[string]bool)
	for _, b := range m.nodes {
		if now.Sub(b.at) < ttl {
			alive[b.node] = true
		}
	}
	return alive, true, nil
}
