package natslog

import (
	"fmt"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
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
			l := newLog(b, connect(b, startServer(b, b.TempDir(), -1)), chat.DefaultHistory, st.storage)
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
	l := newLog(b, connect(b, startServer(b, b.TempDir(), -1)), 1000, Memory)
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
		s := startServer(b, b.TempDir(), -1)
		s.Shutdown()
		s.WaitForShutdown()
	}
}
