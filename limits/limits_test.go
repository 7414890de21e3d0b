package limits

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	alice = Key(netip.MustParseAddr("192.0.2.1"))
	bob   = Key(netip.MustParseAddr("2001:db8:1:2::1"))
)

// A client holds at most Streams streams; each ended stream frees its
// place, once however often it is released; other clients are not
// affected; and 0 turns the limit off.
func TestStreams(t *testing.T) {
	l := New(Config{Streams: 2})
	r1, ok1 := l.OpenStream(alice)
	r2, ok2 := l.OpenStream(alice)
	_, ok3 := l.OpenStream(alice)
	_, okBob := l.OpenStream(bob)
	if diff := cmp.Diff([]bool{true, true, false, true}, []bool{ok1, ok2, ok3, okBob}); diff != "" {
		t.Fatalf("streams opened (-want +got):\n%s", diff)
	}
	r1()
	r1() // a second release frees nothing more
	if got := l.Streams(alice); got != 1 {
		t.Fatalf("alice holds %d streams after one ended, want 1", got)
	}
	if _, ok := l.OpenStream(alice); !ok {
		t.Fatal("alice could not open a stream in the place freed")
	}
	if _, ok := l.OpenStream(alice); ok {
		t.Fatal("alice opened a third stream")
	}
	r2()

	off := New(Config{})
	for i := range 1000 {
		if _, ok := off.OpenStream(alice); !ok {
			t.Fatalf("stream %d refused with the limit off", i)
		}
	}
	if c, m := off.Remembered(); c != 0 || m != 0 {
		t.Errorf("with every limit off, %d clients and %d members are remembered", c, m)
	}
}

// Joins: a minute's worth at once, then one every 60/n seconds; the wait
// says exactly when.
func TestJoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{JoinsPerMinute: 6})
		for i := range 6 {
			if wait := l.Join(alice); wait != 0 {
				t.Fatalf("join %d: wait %v, want none", i, wait)
			}
		}
		if wait := l.Join(alice); wait.Round(time.Millisecond) != 10*time.Second {
			t.Fatalf("the 7th join: wait %v, want 10s", wait)
		}
		if wait := l.Join(bob); wait != 0 {
			t.Fatalf("bob waits %v for alice's joins", wait)
		}
		time.Sleep(4 * time.Second) // the bubble's clock
		if wait := l.Join(alice); wait.Round(time.Millisecond) != 6*time.Second {
			t.Fatalf("4 s later: wait %v, want 6s (a refused join costs nothing)", wait)
		}
		time.Sleep(6 * time.Second)
		if wait := l.Join(alice); wait != 0 {
			t.Fatalf("after the wait: wait %v, want none", wait)
		}
		if wait := New(Config{}).Join(alice); wait != 0 {
			t.Fatalf("with the limit off: wait %v", wait)
		}
	})
}

// Posts count against the member's bucket and the client's; a refused one
// against neither, and the wait is the longer of the two.
func TestPosts(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		posts []uint64        // members posting from alice, in turn
		waits []time.Duration // what each post is told
	}{
		{"per member", Config{MemberPosts: Rate{PerSecond: 1, Burst: 2}},
			[]uint64{1, 1, 1, 2, 2, 2}, []time.Duration{0, 0, time.Second, 0, 0, time.Second}},
		{"per client", Config{ClientPosts: Rate{PerSecond: 0.5, Burst: 3}},
			[]uint64{1, 2, 3, 4}, []time.Duration{0, 0, 0, 2 * time.Second}},
		{"both: the longer wait", Config{MemberPosts: Rate{PerSecond: 1, Burst: 1}, ClientPosts: Rate{PerSecond: 0.25, Burst: 2}},
			[]uint64{1, 1, 2, 3}, []time.Duration{0, time.Second, 0, 4 * time.Second}},
		{"no member given: only the client's", Config{MemberPosts: Rate{PerSecond: 1, Burst: 1}},
			[]uint64{0, 0, 0}, []time.Duration{0, 0, 0}},
		{"a rate of 0 is off", Config{MemberPosts: Rate{Burst: 1}, ClientPosts: Rate{Burst: 1}},
			[]uint64{1, 1, 1}, []time.Duration{0, 0, 0}},
		{"a burst of 0 is off", Config{MemberPosts: Rate{PerSecond: 1}, ClientPosts: Rate{PerSecond: 1}},
			[]uint64{1, 1, 1}, []time.Duration{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := New(tt.cfg)
				var got []time.Duration
				for _, m := range tt.posts {
					got = append(got, l.Post(alice, m))
				}
				if diff := cmp.Diff(tt.waits, got); diff != "" {
					t.Errorf("waits (-want +got):\n%s", diff)
				}
			})
		})
	}

	// The refused post gave back what it took from the bucket that allowed
	// it: member 1's post was refused by the client's bucket only.
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MemberPosts: Rate{PerSecond: 1, Burst: 1}, ClientPosts: Rate{PerSecond: 1, Burst: 1}})
		if wait := l.Post(alice, 1); wait != 0 {
			t.Fatalf("first post: wait %v", wait)
		}
		if wait := l.Post(alice, 2); wait != time.Second {
			t.Fatalf("member 2 from the same client: wait %v, want 1s", wait)
		}
		if wait := l.Post(bob, 2); wait != 0 {
			t.Fatalf("member 2 from another client: wait %v, want none (the refused post cost nothing)", wait)
		}
	})
}

// What nobody uses is forgotten once its buckets are full again; a client
// with an open stream is kept, and forgotten after its last stream.
func TestForgetsIdleClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{Streams: 5, JoinsPerMinute: 30, MemberPosts: Rate{PerSecond: 1, Burst: 10}, ClientPosts: Rate{PerSecond: 5, Burst: 20}})
		l.Join(alice)
		l.Post(alice, 7)
		release, _ := l.OpenStream(bob)
		remembered := func() []int {
			c, m := l.Remembered()
			return []int{c, m}
		}
		if diff := cmp.Diff([]int{2, 1}, remembered()); diff != "" {
			t.Fatalf("clients, members (-want +got):\n%s", diff)
		}
		time.Sleep(10 * time.Second) // the member's bucket is full
		l.Sweep()
		if diff := cmp.Diff([]int{2, 0}, remembered()); diff != "" {
			t.Fatalf("after 10 s (-want +got):\n%s", diff)
		}
		time.Sleep(50 * time.Second) // a minute: alice's joins are back
		l.Sweep()
		if diff := cmp.Diff([]int{1, 0}, remembered()); diff != "" {
			t.Fatalf("after a minute (-want +got):\n%s", diff)
		}
		time.Sleep(24 * time.Hour)
		l.Sweep()
		if diff := cmp.Diff([]int{1, 0}, remembered()); diff != "" {
			t.Fatalf("bob's open stream (-want +got):\n%s", diff)
		}
		release()
		time.Sleep(time.Minute)
		l.Sweep()
		if diff := cmp.Diff([]int{0, 0}, remembered()); diff != "" {
			t.Fatalf("a minute after bob's stream ended (-want +got):\n%s", diff)
		}
	})
}

// However many addresses come, at most MaxIdle clients without a stream
// are remembered, the least recently used forgotten first.
func TestBoundedMemory(t *testing.T) {
	l := New(Config{Streams: 3, JoinsPerMinute: 1, MaxIdle: 100})
	held, _ := l.OpenStream(alice)
	defer held()
	base := netip.MustParseAddr("2001:db8::")
	var last netip.Prefix
	for i := range 1000 {
		last = Key(addrN(base, i))
		if wait := l.Join(last); wait != 0 {
			t.Fatalf("client %d: wait %v", i, wait)
		}
	}
	if c, _ := l.Remembered(); c != 101 {
		t.Errorf("%d clients remembered, want 100 and the one with a stream", c)
	}
	if got := l.Streams(alice); got != 1 {
		t.Errorf("the client with a stream was forgotten: %d streams", got)
	}
	if wait := l.Join(last); wait == 0 {
		t.Error("the most recent client was forgotten")
	}
}

// addrN is the nth /64 after base.
func addrN(base netip.Addr, n int) netip.Addr {
	b := base.As16()
	b[6], b[7] = byte(n>>8), byte(n)
	return netip.AddrFrom16(b)
}

// TestEntryMemory measures what one remembered client costs with every
// limit on, for the figure in the package comment.
func TestEntryMemory(t *testing.T) {
	const n = 10000
	l := New(Config{Streams: 5, JoinsPerMinute: 30, ClientPosts: Rate{PerSecond: 5, Burst: 20}, MemberPosts: Rate{PerSecond: 1, Burst: 10}, MaxIdle: n})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	base := netip.MustParseAddr("2001:db8::")
	for i := range n {
		l.Post(Key(addrN(base, i)), uint64(i+1))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per client with its member", per)
	if c, m := l.Remembered(); c != n || m != n {
		t.Fatalf("remembered %d clients, %d members; want %d each", c, m, n)
	}
	if per > 1024 {
		t.Errorf("%.0f bytes per client and member, over the 1 KiB the package comment allows for", per)
	}
	runtime.KeepAlive(l)
}

// On the real clock, where every call's time differs, a post within both
// buckets waits for nothing (each wait is measured from its own time).
func TestPostsRealClock(t *testing.T) {
	l := New(Config{MemberPosts: Rate{PerSecond: 0.001, Burst: 50}, ClientPosts: Rate{PerSecond: 0.001, Burst: 50}})
	for i := range 50 {
		if wait := l.Post(alice, 1); wait != 0 {
			t.Fatalf("post %d: wait %v, want none", i, wait)
		}
	}
	if wait := l.Post(alice, 1); wait < 900*time.Second {
		t.Fatalf("post 51: wait %v, want about 1000 s", wait)
	}
}

// Run sweeps until its context ends, and then returns (goleak, in
// TestMain, sees to it that nothing is left running).
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{JoinsPerMinute: 1})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			l.Run(ctx, time.Minute)
			close(done)
		}()
		l.Join(alice)
		time.Sleep(2 * time.Minute) // two sweeps, with nobody calling
		synctest.Wait()
		if c, _ := l.Remembered(); c != 0 {
			t.Errorf("%d clients remembered after Run's sweeps, want 0", c)
		}
		cancel()
		<-done
	})
}
