package chat

import (
	"fmt"
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

func TestHistoryBefore(t *testing.T) {
	h := newHistory(5)
	if recs, start := h.before(100, 3); recs != nil || !start {
		t.Fatalf("before on empty = %v, %v; want nil, true", recs, start)
	}
	for id := uint64(10); id <= 16; id++ { // keeps 12…16
		h.add(record{id: id})
	}
	tests := []struct {
		before    uint64
		limit     int
		want      []uint64
		wantStart bool
	}{
		{17, 2, []uint64{15, 16}, false},
		{17, 5, []uint64{12, 13, 14, 15, 16}, true},
		{17, 9, []uint64{12, 13, 14, 15, 16}, true},
		{99, 2, []uint64{15, 16}, false},
		{15, 2, []uint64{13, 14}, false},
		{15, 3, []uint64{12, 13, 14}, true},
		{13, 3, []uint64{12}, true},
		{12, 3, nil, true},
		{5, 3, nil, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("before %d limit %d", tt.before, tt.limit), func(t *testing.T) {
			recs, start := h.before(tt.before, tt.limit)
			if got := ids(recs); !slices.Equal(got, tt.want) || start != tt.wantStart {
				t.Errorf("got %v, %v; want %v, %v", got, start, tt.want, tt.wantStart)
			}
		})
	}
}
