// Package limits keeps a server's per-client limits: how many event streams
// a client may hold open, how often it may join, and how often it, and each
// member, may post (token buckets of golang.org/x/time/rate). A client is an
// IPv4 address or an IPv6 /64 (Key); Proxies says which peers may name the
// client they forward for. The package knows no HTTP and no chat: callers
// say who the client (and member) is, and it answers whether, or how long
// to wait.
//
// Memory is bounded. Each of the two tables (clients, members) remembers at
// most Config.MaxIdle entries that hold no open stream (the least recently
// used go first when more come) plus one per client with an open stream,
// which the server's own stream limit bounds. An entry nobody uses is
// forgotten once forgetting it changes nothing, when its buckets would be
// full again (a minute for joins, Burst/PerSecond for posts), at the next
// call or Sweep: a client that made one request a day ago holds nothing. A
// client's entry and a member's cost about 520 bytes together
// (TestEntryMemory), so with the default MaxIdle the tables hold at most
// about 8.5 MiB (plus the clients with open streams), however many
// addresses a flood comes from.
package limits

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxIdle is how many entries without an open stream each table
// keeps by default.
const DefaultMaxIdle = 16384

// Rate is a token bucket: PerSecond tokens a second, at most Burst at once.
// Either at 0 turns it off.
type Rate struct {
	PerSecond float64
	Burst     int
}

func (r Rate) on() bool { return r.PerSecond > 0 && r.Burst > 0 }

// refill is how long an empty bucket takes to fill: after that long unused,
// a bucket is as good as a new one.
func (r Rate) refill() time.Duration {
	if !r.on() {
		return 0
	}
	s := float64(r.Burst) / r.PerSecond
	if s > maxRefill.Seconds() {
		return maxRefill
	}
	return time.Duration(s * float64(time.Second))
}

// maxRefill caps refill where a tiny rate would overflow a Duration.
const maxRefill = 365 * 24 * time.Hour

func (r Rate) limiter() *rate.Limiter {
	if !r.on() {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r.PerSecond), r.Burst)
}

// Config sets the limits. A zero field turns its limit off.
type Config struct {
	// Streams is how many event streams one client may hold open.
	Streams int
	// JoinsPerMinute is how many joins one client may make in a minute
	// (a bucket of that many, refilled evenly over the minute).
	JoinsPerMinute int
	// MemberPosts bounds each member's posts; ClientPosts all the posts of
	// one client, whichever members they are from.
	MemberPosts, ClientPosts Rate
	// MaxIdle bounds each table's entries without an open stream (see the
	// package comment); 0 means DefaultMaxIdle.
	MaxIdle int
}

// Limits counts what each client does. A nil *Limits limits nothing. Its
// methods may be called from many goroutines.
type Limits struct {
	cfg     Config
	clients *table[netip.Prefix]
	members *table[uint64]

	refused struct{ streams, joins, memberPosts, clientPosts atomic.Uint64 } // see Stats
}

// Stats counts the requests each limit refused since the Limits were made.
// A post both buckets refuse counts once, against the one with the longer
// wait (the one its Retry-After is from); member's on a tie.
type Stats struct {
	Streams     uint64 // Config.Streams
	Joins       uint64 // Config.JoinsPerMinute
	MemberPosts uint64 // Config.MemberPosts
	ClientPosts uint64 // Config.ClientPosts
}

// Stats returns the counts now; a nil *Limits refused nothing.
func (l *Limits) Stats() Stats {
	if l == nil {
		return Stats{}
	}
	return Stats{
		Streams:     l.refused.streams.Load(),
		Joins:       l.refused.joins.Load(),
		MemberPosts: l.refused.memberPosts.Load(),
		ClientPosts: l.refused.clientPosts.Load(),
	}
}

// New returns Limits with nothing counted yet.
func New(cfg Config) *Limits {
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = DefaultMaxIdle
	}
	joins := Rate{PerSecond: float64(cfg.JoinsPerMinute) / 60, Burst: cfg.JoinsPerMinute}
	return &Limits{
		cfg: cfg,
		clients: newTable(cfg.MaxIdle, max(joins.refill(), cfg.ClientPosts.refill()), func(k netip.Prefix) *entry[netip.Prefix] {
			return &entry[netip.Prefix]{key: k, joins: joins.limiter(), posts: cfg.ClientPosts.limiter()}
		}),
		members: newTable(cfg.MaxIdle, cfg.MemberPosts.refill(), func(k uint64) *entry[uint64] {
			return &entry[uint64]{key: k, posts: cfg.MemberPosts.limiter()}
		}),
	}
}

// OpenStream counts one more open stream of client. ok is false when the
// client already holds Config.Streams; otherwise release must be called
// once the stream ends, whichever way it ends (calling it again does
// nothing).
func (l *Limits) OpenStream(client netip.Prefix) (release func(), ok bool) {
	if l == nil || l.cfg.Streams <= 0 {
		return func() {}, true
	}
	l.clients.with(client, time.Now(), func(e *entry[netip.Prefix]) {
		if e.streams < l.cfg.Streams {
			e.streams++
			ok = true
		}
	})
	if !ok {
		l.refused.streams.Add(1)
		return nil, false
	}
	var released atomic.Bool
	return func() {
		if released.Swap(true) {
			return
		}
		l.clients.with(client, time.Now(), func(e *entry[netip.Prefix]) {
			if e.streams > 0 {
				e.streams--
			}
		})
	}, true
}

// Streams is how many streams client holds open, as counted here.
func (l *Limits) Streams(client netip.Prefix) int {
	if l == nil {
		return 0
	}
	return l.clients.streams(client)
}

// StreamLimit is Config.Streams: how many streams one client may hold.
func (l *Limits) StreamLimit() int {
	if l == nil {
		return 0
	}
	return l.cfg.Streams
}

// Join counts a join by client. It returns 0 if the join may go ahead, or
// how long the client must wait for its next one (nothing is counted then).
func (l *Limits) Join(client netip.Prefix) time.Duration {
	if l == nil || l.cfg.JoinsPerMinute <= 0 {
		return 0
	}
	var r *rate.Reservation
	now := time.Now()
	l.clients.with(client, now, func(e *entry[netip.Prefix]) {
		r = e.joins.ReserveN(now, 1)
	})
	wait := settle(now, r)
	if wait > 0 {
		l.refused.joins.Add(1)
	}
	return wait
}

// PerMember reports whether posts are limited per member, which is when
// Post needs to know the member.
func (l *Limits) PerMember() bool {
	return l != nil && l.cfg.MemberPosts.on()
}

// Post counts a post by member (an id unique in the process; 0: none) from
// client against both buckets. It returns 0 if the post may go ahead, or how
// long to wait until both buckets allow one; a refused post counts against
// neither.
func (l *Limits) Post(client netip.Prefix, member uint64) time.Duration {
	if l == nil {
		return 0
	}
	// One time for both buckets: a wait is measured from when the
	// reservation was made.
	now := time.Now()
	var byClient, byMember *rate.Reservation
	if l.cfg.ClientPosts.on() {
		l.clients.with(client, now, func(e *entry[netip.Prefix]) {
			byClient = e.posts.ReserveN(now, 1)
		})
	}
	if member != 0 && l.cfg.MemberPosts.on() {
		l.members.with(member, now, func(e *entry[uint64]) {
			byMember = e.posts.ReserveN(now, 1)
		})
	}
	// Each wait is read before settle gives the tokens back.
	clientWait, memberWait := delay(now, byClient), delay(now, byMember)
	wait := settle(now, byClient, byMember)
	switch {
	case wait == 0:
	case memberWait >= clientWait:
		l.refused.memberPosts.Add(1)
	default:
		l.refused.clientPosts.Add(1)
	}
	return wait
}

// delay is how long r has to wait from now; 0 for a limit that is off.
func delay(now time.Time, r *rate.Reservation) time.Duration {
	if r == nil {
		return 0
	}
	if !r.OK() {
		return maxRefill
	}
	return r.DelayFrom(now)
}

// settle returns the longest wait of reservations made at now (nil ones
// are limits that are off) and, if there is one, gives every token back.
func settle(now time.Time, rs ...*rate.Reservation) time.Duration {
	var wait time.Duration
	for _, r := range rs {
		if r == nil {
			continue
		}
		if !r.OK() { // cannot happen with Burst >= 1; refuse rather than pass
			wait = max(wait, maxRefill)
			continue
		}
		wait = max(wait, r.DelayFrom(now))
	}
	if wait > 0 {
		for _, r := range rs {
			if r != nil {
				r.CancelAt(now)
			}
		}
	}
	return wait
}

// Sweep forgets the entries that no longer matter (see the package
// comment). Calls do it as they go; Sweep is for a server that is quiet.
func (l *Limits) Sweep() {
	if l == nil {
		return
	}
	l.clients.sweep()
	l.members.sweep()
}

// Run sweeps every interval until ctx ends.
func (l *Limits) Run(ctx context.Context, interval time.Duration) {
	if l == nil {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			l.Sweep()
		}
	}
}

// Remembered says how many clients and members have an entry now.
func (l *Limits) Remembered() (clients, members int) {
	if l == nil {
		return 0, 0
	}
	return l.clients.len(), l.members.len()
}
