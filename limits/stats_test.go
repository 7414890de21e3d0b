package limits

import (
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
)

// Every refusal counts once, under the limit that refused it; what goes
// ahead counts nothing.
func TestStatsCountRefusals(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		do   func(l *Limits)
		want Stats
	}{
		{"streams", Config{Streams: 1}, func(l *Limits) {
			l.OpenStream(alice)
			l.OpenStream(alice)
			l.OpenStream(bob)
		}, Stats{Streams: 1}},
		{"joins", Config{JoinsPerMinute: 2}, func(l *Limits) {
			for range 5 {
				l.Join(alice)
			}
		}, Stats{Joins: 3}},
		{"member posts", Config{MemberPosts: Rate{PerSecond: 1, Burst: 1}}, func(l *Limits) {
			l.Post(alice, 1)
			l.Post(alice, 1)
			l.Post(alice, 2)
		}, Stats{MemberPosts: 1}},
		{"client posts", Config{ClientPosts: Rate{PerSecond: 1, Burst: 2}}, func(l *Limits) {
			l.Post(alice, 1)
			l.Post(alice, 2)
			l.Post(alice, 3)
		}, Stats{ClientPosts: 1}},
		// Member 1's second post waits 1 s for its own bucket and 4 s for
		// the client's: the client's limit refused it.
		{"both refuse: the longer wait", Config{MemberPosts: Rate{PerSecond: 1, Burst: 1}, ClientPosts: Rate{PerSecond: 0.25, Burst: 1}}, func(l *Limits) {
			l.Post(alice, 1)
			l.Post(alice, 1)
		}, Stats{ClientPosts: 1}},
		{"both refuse: member's first", Config{MemberPosts: Rate{PerSecond: 0.25, Burst: 1}, ClientPosts: Rate{PerSecond: 1, Burst: 1}}, func(l *Limits) {
			l.Post(alice, 1)
			l.Post(alice, 1)
		}, Stats{MemberPosts: 1}},
		{"off", Config{}, func(l *Limits) {
			for range 100 {
				l.OpenStream(alice)
				l.Join(alice)
				l.Post(alice, 1)
			}
		}, Stats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := New(tt.cfg)
				tt.do(l)
				if diff := cmp.Diff(tt.want, l.Stats()); diff != "" {
					t.Errorf("Stats (-want +got):\n%s", diff)
				}
			})
		})
	}
	var none *Limits
	if got := none.Stats(); got != (Stats{}) {
		t.Errorf("nil Limits: %+v", got)
	}
}
