package crypto

import (
	"strconv"
	"testing"
)

// benchSize is one message size that BenchmarkSeal and BenchmarkOpen run.
type benchSize struct {
	name string
	size int
}

// benchSizes returns the message sizes of the Seal and Open benchmarks.
func benchSizes() []benchSize {
	return []benchSize{{"64B", 64}, {"1KiB", 1 << 10}, {"16KiB", 16 << 10}}
}

func BenchmarkSeal(b *testing.B) {
	box := newTestBox(b)
	ad := []byte("room=bench seq=1")
	for _, bs := range benchSizes() {
		b.Run(bs.name, func(b *testing.B) {
			msg := make([]byte, bs.size)
			seal(b, box, "bench", msg, ad) // derive and cache the room keys
			b.SetBytes(int64(bs.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := box.Seal("bench", msg, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	box := newTestBox(b)
	ad := []byte("room=bench seq=1")
	for _, bs := range benchSizes() {
		b.Run(bs.name, func(b *testing.B) {
			record := seal(b, box, "bench", make([]byte, bs.size), ad)
			b.SetBytes(int64(bs.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := box.Open("bench", record, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealOpen256 is the round trip of a typical chat message.
func BenchmarkSealOpen256(b *testing.B) {
	box := newTestBox(b)
	msg := make([]byte, 256)
	seal(b, box, "bench", msg, nil)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	// A new sequence number as associated data for every record, as the chat
	// would use it; the buffer is reused so the benchmark counts only the
	// allocations of Seal and Open.
	ad := make([]byte, 0, 20)
	seq := 0
	for b.Loop() {
		seq++
		ad = strconv.AppendInt(ad[:0], int64(seq), 10)
		record, err := box.Seal("bench", msg, ad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := box.Open("bench", record, ad); err != nil {
			b.Fatal(err)
		}
	}
}
