package main

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// What became of each scheduled message.
const (
	postNotSent  uint32 = iota // not yet due, or the run stopped first
	postAccepted               // the server accepted it
	postFailed                 // refused, timed out, or dropped by the publisher
)

// maxInFlight bounds the posts awaiting a reply. A message due while that
// many wait is not sent but counted as failed ("publisher full"): the
// schedule never waits for the server.
const maxInFlight = 1024

// publisher posts messages on a fixed schedule whatever the replies do (an
// open loop): message k is due at start + k/rate, into room k mod rooms,
// with sequence number k/rooms + 1 there. A late reply never delays the
// next send; a publisher that falls behind sends at once and catches up,
// and latency still counts from the schedule.
type publisher struct {
	t       target
	posters []*poster // one per node posted to
	clock   clock
	rooms   int
	rate    int           // messages per second, over all rooms
	size    int           // bytes of text
	start   time.Duration // when message 0 is due; set before run
	total   int           // messages in the whole run

	status   []atomic.Uint32 // by message, post*
	sentAt   []atomic.Int64  // by message: when its post went out, +1 ns (0: not yet)
	doneAt   []atomic.Int64  // by message: when it was accepted, +1 ns (0: not (yet))
	inflight []atomic.Int32  // by room
	overlaps atomic.Uint64   // posts sent while the previous one to the room still waited
	lag      histogram       // actual send − scheduled send; the run loop's own

	mu       sync.Mutex
	failures map[string]int // reason → count
}

// newPublisher plans length's worth of messages, posted to hosts in turn.
func newPublisher(t target, hosts []string, c clock, rooms, rate, size int, length time.Duration) *publisher {
	total := int(int64(rate) * int64(length) / int64(time.Second))
	posters := make([]*poster, len(hosts))
	for i, h := range hosts {
		posters[i] = newPoster(h, maxInFlight)
	}
	return &publisher{
		t: t, posters: posters, clock: c, rooms: rooms, rate: rate, size: size, total: total,
		status:   make([]atomic.Uint32, total),
		sentAt:   make([]atomic.Int64, total),
		doneAt:   make([]atomic.Int64, total),
		inflight: make([]atomic.Int32, rooms),
		failures: map[string]int{},
	}
}

// due is when message k is scheduled.
func (p *publisher) due(k int) time.Duration {
	return p.start + time.Duration(int64(k)*int64(time.Second)/int64(p.rate))
}

// poster is the node message k goes to: by its sequence in its room, so
// that each room is posted to from every node in turn.
func (p *publisher) poster(k int) *poster {
	return p.posters[int(p.seq(k))%len(p.posters)]
}

// room and seq place message k.
func (p *publisher) room(k int) int   { return k % p.rooms }
func (p *publisher) seq(k int) uint64 { return uint64(k/p.rooms) + 1 }

// run sends every message on schedule until the last or until ctx ends, then
// waits for the replies.
func (p *publisher) run(ctx context.Context) {
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for k := range p.total {
		due := p.due(k)
		p.clock.sleepUntil(ctx, due)
		if ctx.Err() != nil {
			return
		}
		p.lag.record(p.clock.now() - due)
		text, err := messageText(p.seq(k), due, p.size)
		if err != nil {
			p.fail(k, err)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			p.fail(k, errors.New("publisher full"))
			continue
		}
		room := p.room(k)
		p.sentAt[k].Store(int64(p.clock.now()) + 1)
		if p.inflight[room].Add(1) > 1 {
			p.overlaps.Add(1)
		}
		wg.Go(func() {
			defer func() { <-slots }()
			head, body := p.t.post(room, p.seq(k), text)
			r, err := p.poster(k).do(ctx, head, body)
			if err == nil {
				err = p.t.accepted(r)
			}
			done := p.clock.now()
			p.inflight[room].Add(-1)
			if err != nil {
				p.fail(k, err)
				return
			}
			p.doneAt[k].Store(int64(done) + 1)
			p.status[k].Store(postAccepted)
		})
	}
}

// fail marks message k failed and counts why.
func (p *publisher) fail(k int, err error) {
	p.status[k].Store(postFailed)
	p.mu.Lock()
	p.failures[failureReason(err)]++
	p.mu.Unlock()
}

// failureReason is a short, stable name for why a post failed, to count
// failures by. It never holds message text.
func failureReason(err error) string {
	var status statusError
	var nerr net.Error
	switch {
	case errors.As(err, &status):
		return status.Error()
	case errors.Is(err, context.Canceled):
		return "unanswered when the run stopped"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, net.ErrClosed), strings.Contains(err.Error(), "connection reset"):
		return "connection lost"
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error() // without the method and address
	}
	return err.Error()
}

// message is the index of sequence seq of room.
func (p *publisher) message(room int, seq uint64) int {
	return int(seq-1)*p.rooms + room
}

// ordered tells whether the server must deliver sequence earlier of room
// before later: it accepted earlier before later's post went out. When it
// cannot tell (a reply still being recorded, a sequence not ours), it says
// no, so a reorder is never counted on a guess.
func (p *publisher) ordered(room int, earlier, later uint64) bool {
	e, l := p.message(room, earlier), p.message(room, later)
	if earlier == 0 || later == 0 || e >= p.total || l >= p.total {
		return false
	}
	done, sent := p.doneAt[e].Load(), p.sentAt[l].Load()
	return done != 0 && sent != 0 && done < sent
}

// accepted counts the messages of room accepted by the server.
func (p *publisher) accepted(room int) uint64 {
	var n uint64
	for k := room; k < p.total; k += p.rooms {
		if p.status[k].Load() == postAccepted {
			n++
		}
	}
	return n
}

// lost counts the accepted messages of a reader's room it never received.
func (p *publisher) lost(r *reader) uint64 {
	var n uint64
	for k := r.room; k < p.total; k += p.rooms {
		if p.status[k].Load() == postAccepted && !r.log.has(p.seq(k)) {
			n++
		}
	}
	return n
}

// counts tallies the messages by what became of them.
func (p *publisher) counts() (sent, accepted, failed uint64) {
	for k := range p.status {
		switch p.status[k].Load() {
		case postAccepted:
			accepted++
		case postFailed:
			failed++
		}
	}
	return accepted + failed, accepted, failed
}

// failureList is the failures by reason, most frequent first.
func (p *publisher) failureList() []failure {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sortedFailures(p.failures)
}

type failure struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

func sortedFailures(m map[string]int) []failure {
	out := make([]failure, 0, len(m))
	for r, n := range m {
		out = append(out, failure{r, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}
