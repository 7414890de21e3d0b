package natsstate

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkWatch100Rooms is a node following the state of 100 rooms, one
// Watch each as the Hub has: it reports the goroutines and the server's
// consumers those watches cost (the watching goroutines themselves
// included), and times an update until its room's watcher has it.
func BenchmarkWatch100Rooms(b *testing.B) {
	const rooms = 100
	srv := natstest.Start(b, b.TempDir(), -1)
	nc := natstest.Connect(b, srv)
	key, err := crypto.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(context.Background(), Config{
		Conn: nc, Storage: natslog.Memory, RoomToken: natstest.Token,
		Seal: func(room string, p []byte) ([]byte, error) { return box.Seal(room, p, stateAD) },
		Open: func(room string, c []byte) ([]byte, error) { return box.Open(room, c, stateAD) },
	})
	if err != nil {
		b.Fatal(err)
	}
	revs := make([]chat.Revision, rooms)
	for i := range rooms {
		if revs[i], err = s.Update(fmt.Sprint("room ", i), 0, chat.RoomState{Newest: 1}); err != nil {
			b.Fatal(err)
		}
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	got := make([]chan chat.Revision, rooms)
	var wg sync.WaitGroup
	for i := range rooms {
		got[i] = make(chan chat.Revision, 16)
		wg.Go(func() {
			_ = s.Watch(ctx, fmt.Sprint("room ", i), func(_ chat.RoomState, rev chat.Revision) error {
				got[i] <- rev
				return nil
			})
		})
	}
	b.Cleanup(func() { cancel(); wg.Wait() })
	for i := range rooms {
		<-got[i] // each watch is under way: it passed the room's state
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "KV_"+DefaultBucket)
	if err != nil {
		b.Fatal(err)
	}
	// Reported after the loop: its start resets the metrics.
	goroutines, consumers := runtime.NumGoroutine()-base, st.CachedInfo().State.Consumers
	i := 0
	for b.Loop() {
		room := i % rooms
		i++
		if revs[room], err = s.Update(fmt.Sprint("room ", room), revs[room], chat.RoomState{Newest: uint64(i)}); err != nil {
			b.Fatal(err)
		}
		for rev := range got[room] {
			if rev == revs[room] {
				break
			}
		}
	}
	b.ReportMetric(float64(goroutines), "goroutines")
	b.ReportMetric(float64(consumers), "consumers")
}
