package natslog

import (
	"errors"
	"fmt"
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
