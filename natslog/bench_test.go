package natslog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog/natstest"
)

// sealedSize is about a short message once sealed: IV, one or two blocks,
// MAC.
const sealedSize = 96

// BenchmarkAppend appends to one room from one Log, each after the last,
// with a client id as a post has.
func BenchmarkAppend(b *testing.B) {
	for _, st := range []struct {
		name    string
		storage Storage
	}{{"memory", Memory}, {"file", File}} {
		b.Run(st.name, func(b *testing.B) {
			l := newLog(b, natstest.Connect(b, natstest.Start(b, b.TempDir(), -1)), chat.DefaultHistory, st.storage)
			sealed := make([]byte, sealedSize)
			var id uint64
			for b.Loop() {
				id++
				rec := chat.Record{ID: id, Member: 1, CID: fmt.Sprint("1:", id), Sealed: sealed}
				if _, ok, err := l.Append("bench", id-1, rec); err != nil || !ok {
					b.Fatalf("Append %d: %v, %v", id, ok, err)
				}
			}
		})
	}
}

// BenchmarkRead1000 reads a room's 1000 kept records, as a reader does that
// resumes from before them.
func BenchmarkRead1000(b *testing.B) {
	l := newLog(b, natstest.Connect(b, natstest.Start(b, b.TempDir(), -1)), 1000, Memory)
	sealed := make([]byte, sealedSize)
	for id := uint64(1); id <= 1500; id++ {
		if _, _, err := l.Append("bench", id-1, chat.Record{ID: id, Member: 1, Sealed: sealed}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		recs, err := l.Read("bench", 0, 0)
		if err != nil || len(recs) != 1000 {
			b.Fatalf("Read: %d records, %v", len(recs), err)
		}
	}
}

// BenchmarkServerStart is what each test pays for its own nats-server with
// JetStream: a start until it takes connections, and a shutdown.
func BenchmarkServerStart(b *testing.B) {
	for b.Loop() {
		s := natstest.Start(b, b.TempDir(), -1)
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// BenchmarkAppendTwoConnections appends to one room flat out from two Logs
// on two connections, as two servers writing one hot room: each writer
// appends after the newest id it knows and asks Bounds again after a
// conflict. retries/append is conflicts per stored record.
func BenchmarkAppendTwoConnections(b *testing.B) {
	s := natstest.Start(b, b.TempDir(), -1)
	logs := []*Log{
		newLog(b, natstest.Connect(b, s), chat.DefaultHistory, Memory),
		newLog(b, natstest.Connect(b, s), chat.DefaultHistory, Memory),
	}
	sealed := make([]byte, sealedSize)
	var writer, stored, conflicts atomic.Int64
	b.SetParallelism(1) // one writer per core; two cores here
	b.RunParallel(func(pb *testing.PB) {
		w := writer.Add(1)
		l := logs[w%2]
		var newest uint64
		for pb.Next() {
			for {
				rec := chat.Record{ID: newest + 1, Member: uint64(w), Sealed: sealed}
				_, _, err := l.Append("bench", newest, rec)
				if err == nil {
					newest++
					stored.Add(1)
					break
				}
				if !errors.Is(err, chat.ErrConflict) {
					b.Error(err)
					return
				}
				conflicts.Add(1)
				if _, newest, _, err = l.Bounds("bench"); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(conflicts.Load())/float64(max(stored.Load(), 1)), "retries/append")
}

// BenchmarkWatch100Rooms is a node following 100 rooms, one Watch each as
// the Hub has: it reports the goroutines and the server's consumers those
// watches cost (the watching goroutines themselves included), and times
// an append until its room's watcher has it.
func BenchmarkWatch100Rooms(b *testing.B) {
	const rooms = 100
	srv := natstest.Start(b, b.TempDir(), -1)
	l := newLog(b, natstest.Connect(b, srv), chat.DefaultHistory, Memory)
	sealed := make([]byte, sealedSize)
	newest := make([]uint64, rooms)
	for i := range rooms {
		if _, _, err := l.Append(fmt.Sprint("room ", i), 0, chat.Record{ID: 1, Member: 1, Sealed: sealed}); err != nil {
			b.Fatal(err)
		}
		newest[i] = 1
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	got := make([]chan uint64, rooms)
	var wg sync.WaitGroup
	for i := range rooms {
		got[i] = make(chan uint64, 16)
		wg.Go(func() {
			_ = l.Watch(ctx, fmt.Sprint("room ", i), 0, func(r chat.Record) error {
				got[i] <- r.ID
				return nil
			})
		})
	}
	b.Cleanup(func() { cancel(); wg.Wait() })
	for i := range rooms {
		<-got[i] // each watch is under way: it delivered the room's record
	}
	st, err := l.js.Stream(context.Background(), l.cfg.Stream)
	if err != nil {
		b.Fatal(err)
	}
	// Reported after the loop: its start resets the metrics.
	goroutines, consumers := runtime.NumGoroutine()-base, st.CachedInfo().State.Consumers
	i := 0
	for b.Loop() {
		room := i % rooms
		i++
		rec := chat.Record{ID: newest[room] + 1, Member: 1, Sealed: sealed}
		if _, _, err := l.Append(fmt.Sprint("room ", room), newest[room], rec); err != nil {
			b.Fatal(err)
		}
		newest[room]++
		if id := <-got[room]; id != newest[room] {
			b.Fatalf("room %d delivered %d, want %d", room, id, newest[room])
		}
	}
	b.ReportMetric(float64(goroutines), "goroutines")
	b.ReportMetric(float64(consumers), "consumers")
}
