//go:build !race

// The race detector makes sync.Pool drop items at random, which would make
// the pooled MAC state allocate now and then; these counts hold without it.

package crypto

import (
	"bytes"
	"testing"
)

// TestAllocations pins what sealing and opening allocate with several keys,
// once the room's keys are cached: Seal only the record, Open only the
// plaintext, whichever key the record names, and a refused record nothing,
// which keeps the tag check free of garbage for forged input.
func TestAllocations(t *testing.T) {
	keys := [][]byte{mustKey(t), mustKey(t), mustKey(t)}
	box := mustBox(t, keys[0], keys[1:]...)
	ad := []byte("seq=1")
	msg := bytes.Repeat([]byte("x"), 200)
	underOldest := seal(t, mustBox(t, keys[2]), "r", msg, ad)
	underCurrent := seal(t, box, "r", msg, ad)
	forged := bytes.Clone(underOldest)
	forged[len(forged)-1] ^= 1
	unknown := bytes.Clone(underCurrent)
	unknown[1] ^= 1

	tests := []struct {
		name string
		f    func()
		want float64
	}{
		{"Seal", func() { _, _ = box.Seal("r", msg, ad) }, 1},
		{"Open under the current key", func() { _, _ = box.Open("r", underCurrent, ad) }, 1},
		{"Open under the oldest key", func() { _, _ = box.Open("r", underOldest, ad) }, 1},
		{"Open of a forged tag", func() { _, _ = box.Open("r", forged, ad) }, 0},
		{"Open of an unknown key id", func() { _, _ = box.Open("r", unknown, ad) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f() // derive and cache the room's keys first
			if got := testing.AllocsPerRun(100, tt.f); got != tt.want {
				t.Errorf("%v allocations, want %v", got, tt.want)
			}
		})
	}
}
