package chat

import (
	"slices"
	"testing"
)

func ids(recs []record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.id
	}
	return out
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(3)
	if _, ok := h.oldest(); ok {
		t.Fatal("empty history has an oldest record")
	}
	if got := h.after(0); got != nil {
		t.Fatalf("after(0) on empty = %v", got)
	}
	for id := uint64(10); id <= 14; id++ {
		h.add(record{id: id})
	}
	tests := []struct {
		after uint64
		want  []uint64
	}{
		{0, []uint64{12, 13, 14}},
		{11, []uint64{12, 13, 14}},
		{12, []uint64{13, 14}},
		{13, []uint64{14}},
		{14, nil},
		{99, nil},
	}
	for _, tt := range tests {
		if got := ids(h.after(tt.after)); !slices.Equal(got, tt.want) {
			t.Errorf("after(%d) = %v, want %v", tt.after, got, tt.want)
		}
	}
	if id, ok := h.oldest(); !ok || id != 12 {
		t.Errorf("oldest = %d, %v; want 12, true", id, ok)
	}
}
