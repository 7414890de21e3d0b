package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Every value falls in a bucket that holds it, and buckets follow each
// other without holes.
func TestBuckets(t *testing.T) {
	for v := uint64(0); v < 1<<18; v++ {
		i := bucketOf(v)
		if high := bucketHigh(i); v > high || (i > 0 && v <= bucketHigh(i-1)) {
			t.Fatalf("%d in bucket %d, which holds (%d, %d]", v, i, bucketHigh(i-1), high)
		}
	}
	for _, v := range []uint64{1 << 40, 1<<63 + 12345, math.MaxUint64} {
		i := bucketOf(v)
		if high := bucketHigh(i); v > high || v <= bucketHigh(i-1) {
			t.Errorf("%d in bucket %d, which holds (%d, %d]", v, i, bucketHigh(i-1), high)
		}
	}
}

// Quantiles agree with the sorted samples within the buckets' 1/64.
func TestQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct {
		name string
		draw func() time.Duration
	}{
		{"uniform to 50 ms", func() time.Duration { return time.Duration(rng.IntN(50_000)) * time.Microsecond }},
		{"long tail", func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond)) }},
		{"sub-millisecond", func() time.Duration { return time.Duration(rng.IntN(900)) * time.Microsecond }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			samples := make([]time.Duration, 20000)
			for i := range samples {
				samples[i] = tt.draw().Truncate(time.Microsecond)
				h.record(samples[i])
			}
			slices.Sort(samples)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				want := samples[int(math.Ceil(q*float64(len(samples))))-1]
				got := h.quantile(q)
				if got < want || float64(got-want) > float64(want)/64+float64(time.Microsecond) {
					t.Errorf("q%.3f = %v, want %v (+1/64)", q, got, want)
				}
			}
			if got := time.Duration(h.max) * time.Microsecond; got != samples[len(samples)-1] {
				t.Errorf("max = %v, want %v", got, samples[len(samples)-1])
			}
		})
	}
}

func TestMergeAndEdges(t *testing.T) {
	var a, b, empty histogram
	if empty.quantile(0.99) != 0 {
		t.Error("an empty histogram has a quantile")
	}
	a.record(-time.Second) // a clock step backwards counts as 0
	a.record(time.Millisecond)
	b.record(3 * time.Second)
	a.merge(&b)
	a.merge(&empty)
	// A quantile is its bucket's highest value (1000 µs shares 1000–1007),
	// but never above the largest value recorded.
	got := []time.Duration{a.quantile(0.1), a.quantile(0.5), a.quantile(1)}
	want := []time.Duration{0, 1007 * time.Microsecond, 3 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" || a.n != 3 {
		t.Errorf("merged: n %d, quantiles 0.1, 0.5, 1 (-want +got):\n%s", a.n, diff)
	}
}
