package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSeqLog(t *testing.T) {
	type counts struct {
		Received, Distinct, Dups, Late, Max, Gaps uint64
		Overtaken                                 []uint64 // by arrival
	}
	for _, tt := range []struct {
		name     string
		arrivals []uint64
		want     counts
	}{
		{"none", nil, counts{}},
		{"in order", []uint64{1, 2, 3}, counts{Received: 3, Distinct: 3, Max: 3, Overtaken: []uint64{0, 0, 0}}},
		{"a duplicate", []uint64{1, 2, 2, 3}, counts{Received: 4, Distinct: 3, Dups: 1, Max: 3, Overtaken: []uint64{0, 0, 0, 0}}},
		{"a swap", []uint64{1, 3, 2, 4}, counts{Received: 4, Distinct: 4, Late: 1, Max: 4, Overtaken: []uint64{0, 0, 3, 0}}},
		{"a gap", []uint64{1, 2, 5}, counts{Received: 3, Distinct: 3, Max: 5, Gaps: 2, Overtaken: []uint64{0, 0, 0}}},
		{"late duplicate of a late one", []uint64{2, 1, 1}, counts{Received: 3, Distinct: 2, Dups: 1, Late: 1, Max: 2, Overtaken: []uint64{0, 2, 0}}},
		{"across bitset words", []uint64{63, 64, 65, 200}, counts{Received: 4, Distinct: 4, Max: 200, Gaps: 200 - 63 + 1 - 4, Overtaken: []uint64{0, 0, 0, 0}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var l seqLog
			var overtaken []uint64
			for _, s := range tt.arrivals {
				_, o := l.add(s)
				overtaken = append(overtaken, o)
			}
			first := uint64(0)
			if len(tt.arrivals) > 0 {
				first = firstSeen(&l)
			}
			got := counts{l.received, l.distinct, l.dups, l.late, l.max, l.gaps(max(first, 1)), overtaken}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

// A reader loses the accepted messages of its room it never got; messages
// refused or never sent are not its loss.
func TestPublisherLost(t *testing.T) {
	p := newPublisher(nil, []string{""}, clock{}, 2, 10, 300, time.Second) // 10 messages over 2 rooms
	for k, s := range []uint32{postAccepted, postAccepted, postFailed, postAccepted, postAccepted, postAccepted, postNotSent, postAccepted, postAccepted, postAccepted} {
		p.status[k].Store(s)
	}
	// Room 0 holds messages 0, 2, 4, 6, 8: sequences 1..5; 2 failed, 4 not sent.
	r := &reader{room: 0}
	for _, s := range []uint64{1, 3} {
		r.log.add(s)
	}
	if got := p.lost(r); got != 1 {
		t.Errorf("lost = %d, want 1 (sequence 5)", got)
	}
	if got := p.accepted(0); got != 3 {
		t.Errorf("accepted(0) = %d, want 3", got)
	}
	sent, accepted, failed := p.counts()
	if diff := cmp.Diff([3]uint64{9, 8, 1}, [3]uint64{sent, accepted, failed}); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// A late arrival is a reorder only when the server accepted it before the
// message that overtook it was sent.
func TestPublisherOrdered(t *testing.T) {
	p := newPublisher(nil, []string{""}, clock{}, 1, 10, 300, time.Second) // one room: message k is sequence k+1
	times := []struct{ sent, done int64 }{
		{10, 20}, // 1
		{30, 50}, // 2: sent after 1 was accepted
		{40, 45}, // 3: sent while 2 waited
		{60, 0},  // 4: never accepted
		{70, 80}, // 5
	}
	for k, tm := range times {
		p.sentAt[k].Store(tm.sent)
		p.doneAt[k].Store(tm.done)
	}
	for _, tt := range []struct {
		name           string
		earlier, later uint64
		want           bool
	}{
		{"accepted before the later was sent", 1, 2, true},
		{"in flight together", 2, 3, false},
		{"never accepted", 4, 5, false},
		{"a sequence past the plan", 1, 99, false},
		{"no sequence", 0, 2, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.ordered(0, tt.earlier, tt.later); got != tt.want {
				t.Errorf("ordered(%d, %d) = %v, want %v", tt.earlier, tt.later, got, tt.want)
			}
		})
	}
}
