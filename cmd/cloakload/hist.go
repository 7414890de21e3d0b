package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts durations in microseconds in log-linear buckets, the way
// HdrHistogram does: exact below 128 µs, then 64 buckets per power of two,
// so a percentile read from it is at most 1/64 (1.6%) above the true one.
// The zero value is empty and ready; buckets grow as larger values arrive.
type histogram struct {
	counts []uint64
	n      uint64
	max    uint64 // µs, exact
}

const histSubBits = 6 // 64 buckets per power of two

// bucketOf is the index of v's bucket.
func bucketOf(v uint64) int {
	if v < 2<<histSubBits {
		return int(v)
	}
	e := bits.Len64(v) - (histSubBits + 1)
	return e<<histSubBits + int(v>>e)
}

// bucketHigh is the highest value bucket i holds.
func bucketHigh(i int) uint64 {
	if i < 2<<histSubBits {
		return uint64(i)
	}
	e := i>>histSubBits - 1
	m := uint64(i&(1<<histSubBits-1) + 1<<histSubBits)
	return (m+1)<<e - 1
}

// record adds one duration (negative counts as 0).
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	i := bucketOf(v)
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	h.n++
	h.max = max(h.max, v)
}

// merge adds o's counts to h.
func (h *histogram) merge(o *histogram) {
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile is the smallest recorded value v (to the bucket's precision)
// with at least q·n values at or below it; q in (0, 1]. An empty histogram
// answers 0.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), h.max)) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}
