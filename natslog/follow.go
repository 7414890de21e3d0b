package natslog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A Log follows the stream once, however many rooms it watches: one
// ordered consumer on every room's subject, started by the first Watch and
// stopped with the last, hands each record to the watchers of its room
// (a follower). A node serving R rooms thus costs the server one consumer,
// not R, and itself a few goroutines, not a few per room.
//
// Each Watch keeps its own place (the id and stream sequence of the last
// record it passed on) and a queue the follower appends to without ever
// waiting, so a slow fn in one room never holds up another room: past
// Config.WatchQueue records waiting, the queue is dropped and that Watch
// reads what it missed by direct get (a catch-up), as it does for any gap.
// Only what the room no longer keeps is chat.ErrTruncated.
//
// What no record shows — a NATS restart that lost the stream, a stream
// made again, a purge — the follower looks for once per Log every
// Config.WatchCheck, in the stream's info (one request, however many
// rooms): a new creation time or sequences gone backwards mean the stream
// was made again, so it follows the new one from its start and every
// Watch that passed on a record returns chat.ErrTruncated; fewer messages
// than at the last look mean a purge, so every Watch looks at its room's
// newest record. Drop announces the room it purged (a plain NATS message
// on <prefix>.dropped.<token>, not kept), so the watchers of an idle room
// learn of it at once even if other rooms' appends hide the purge in the
// count. An operator's purge of one quiet room, hidden in the count by
// appends to other rooms, is noticed at that room's next record.
//
// The price: a node receives every room's records, those of rooms it does
// not serve too (sealed; passed over unopened), so N nodes get N copies
// of every record. A consumer per served room would send each node only
// its rooms' records, at a consumer and a few goroutines per room.

// DefaultWatchQueue is Config.WatchQueue's default.
const DefaultWatchQueue = 1024

// minCheckTimeout is the least time a look at the stream's info may take.
const minCheckTimeout = 500 * time.Millisecond

// Stats are a Log's figures since it was made, for metrics.
type Stats struct {
	// AppendConflicts counts Appends that returned chat.ErrConflict: the
	// room's log had moved on (the compare-and-set on the subject's last
	// sequence, or the head read before it, refused the record).
	AppendConflicts uint64
	// Watchers is how many Watch calls are running.
	Watchers int
	// FollowPending is how many messages of the stream the follower had
	// still to receive when it got its last one: how far this node is
	// behind the stream.
	FollowPending uint64
	// FollowResets counts the follower's fresh starts: its ordered consumer
	// made again after a missed message or a reconnection, or the stream
	// found made again (a NATS restart with memory storage).
	FollowResets uint64
	// WatchCatchUps counts reads by direct get a Watch made past its start:
	// to fill a gap, after its queue overflowed, or to check its room.
	WatchCatchUps uint64
	// WatchOverflows counts queues dropped because a Watch's fn was slower
	// than its room's records.
	WatchOverflows uint64
}

// counters are Stats as they are counted.
type counters struct {
	appendConflicts, followPending, followResets, catchUps, overflows atomic.Uint64
	watchers                                                          atomic.Int64
}

// Stats returns the Log's figures now.
func (l *Log) Stats() Stats {
	return Stats{
		AppendConflicts: l.stats.appendConflicts.Load(),
		Watchers:        int(l.stats.watchers.Load()),
		FollowPending:   l.stats.followPending.Load(),
		FollowResets:    l.stats.followResets.Load(),
		WatchCatchUps:   l.stats.catchUps.Load(),
		WatchOverflows:  l.stats.overflows.Load(),
	}
}

// An item is what the follower hands a watch: a record with its sequence,
// or the error of one that does not decode.
type item struct {
	stored
	err error
}

// A watch is one Watch's mailbox, filled by the follower.
type watch struct {
	subj string
	f    *follower
	kick chan struct{} // has a value when something below changed

	mu       sync.Mutex
	queue    []item
	overflow bool  // records were dropped from queue: catch up
	recheck  bool  // the room may have lost records: look at its newest
	lost     bool  // the stream was made again: what was passed on is gone
	err      error // the follower ended for good (its connection closed)
}

// poke wakes the watch's goroutine, without waiting.
func (w *watch) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// push queues it for the watch; past max the queue is dropped instead.
func (w *watch) push(it item, max int, c *counters) {
	w.mu.Lock()
	if len(w.queue) >= max {
		if !w.overflow {
			c.overflows.Add(1)
		}
		w.queue, w.overflow = nil, true
	} else if !w.overflow {
		w.queue = append(w.queue, it)
	}
	w.mu.Unlock()
	w.poke()
}

// flag marks the watch with what the follower learnt about its room; it
// drops the queue when the stream was made again (its records are from
// the stream that is gone, or read again anyway).
func (w *watch) flag(lost bool, err error) {
	w.mu.Lock()
	w.recheck = true
	if lost {
		w.lost, w.queue = true, nil
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.poke()
}

// mail is what a watch was sent since it last looked.
type mail struct {
	queue                   []item
	overflow, recheck, lost bool
	err                     error
}

// take empties the mailbox.
func (w *watch) take() mail {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := mail{queue: w.queue, overflow: w.overflow, recheck: w.recheck, lost: w.lost, err: w.err}
	w.queue, w.overflow, w.recheck, w.lost = nil, false, false, false
	return m
}

// A follower is a Log's one ordered consumer on all its rooms, with the
// watches it feeds.
type follower struct {
	l       *Log
	quit    chan struct{} // closed to stop it
	done    chan struct{} // closed when run has ended
	closed  chan error    // the consumer's connection closed
	dropped *nats.Subscription

	// Guarded by l.fmu:
	rooms map[string]map[*watch]struct{} // by subject
	n     int                            // watches in rooms
	epoch uint64                         // of the consumer that feeds rooms

	// Only run's, once started:
	cons              jetstream.Consumer
	cc                jetstream.ConsumeContext
	stopping          sync.WaitGroup // consumers being stopped
	created           time.Time      // the stream's, when last looked at
	first, last, msgs uint64

	consumerMu sync.Mutex
	consumer   string // the ordered consumer's current name, for counting its resets
}

// join adds w to the Log's follower, starting one if none runs. Starts
// are one at a time (startMu), so that Watches begun together share one;
// l.fmu is not held meanwhile, so other followers' deliveries go on.
func (l *Log) join(ctx context.Context, w *watch) error {
	l.startMu.Lock()
	defer l.startMu.Unlock()
	l.fmu.Lock()
	if l.fol == nil {
		// Only a start sets l.fol: it stays nil meanwhile.
		l.fmu.Unlock()
		f, err := l.startFollower(ctx)
		if err != nil {
			return err
		}
		l.fmu.Lock()
		l.fol = f
	}
	defer l.fmu.Unlock()
	f := l.fol
	w.f = f
	ws := f.rooms[w.subj]
	if ws == nil {
		ws = make(map[*watch]struct{})
		f.rooms[w.subj] = ws
	}
	ws[w] = struct{}{}
	f.n++
	l.stats.watchers.Add(1)
	return nil
}

// leave removes w from its follower, and stops the follower when it was
// its last watch.
func (l *Log) leave(w *watch) {
	l.fmu.Lock()
	f := w.f
	if ws := f.rooms[w.subj]; ws != nil {
		delete(ws, w)
		if len(ws) == 0 {
			delete(f.rooms, w.subj)
		}
	}
	f.n--
	l.stats.watchers.Add(-1)
	last := f.n == 0 && l.fol == f
	if last {
		l.fol = nil
	}
	l.fmu.Unlock()
	if last {
		close(f.quit)
		<-f.done
	}
}

// startFollower starts following the stream from its next message.
func (l *Log) startFollower(ctx context.Context) (*follower, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	f := &follower{
		l:      l,
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		closed: make(chan error, 1),
		rooms:  make(map[string]map[*watch]struct{}),
	}
	info, err := l.streamInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("natslog: watch: %w", err)
	}
	f.look(info)
	if err := f.consume(ctx, info.State.LastSeq+1); err != nil {
		return nil, err
	}
	f.dropped, err = l.nc.Subscribe(l.cfg.Prefix+".dropped.*", f.onDropped)
	if err != nil {
		f.stopConsumer()
		f.stopping.Wait()
		return nil, fmt.Errorf("natslog: watch: %w", err)
	}
	go f.run()
	return f, nil
}

// streamInfo asks for the stream's info, making the stream again if it is
// gone.
func (l *Log) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	st, err := l.js.Stream(ctx, l.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if err = l.ensureStream(ctx); err == nil {
			st, err = l.js.Stream(ctx, l.cfg.Stream)
		}
	}
	if err != nil {
		return nil, err
	}
	return st.CachedInfo(), nil
}

// look remembers what the stream's info says.
func (f *follower) look(info *jetstream.StreamInfo) {
	f.created = info.Created
	f.first, f.last, f.msgs = info.State.FirstSeq, info.State.LastSeq, info.State.Msgs
}

// consume starts a new ordered consumer on every room's subject from
// stream sequence from, under a new epoch: what the former one still
// hands over is ignored.
func (f *follower) consume(ctx context.Context, from uint64) error {
	l := f.l
	cons, err := l.js.OrderedConsumer(ctx, l.cfg.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{l.cfg.Prefix + ".room.>"},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		InactiveThreshold: consumerIdle,
	})
	if err != nil {
		return fmt.Errorf("natslog: watch: %w", err)
	}
	// What the former consumer still hands over is of another epoch.
	f.l.fmu.Lock()
	f.epoch++
	epoch := f.epoch
	f.l.fmu.Unlock()
	f.consumerMu.Lock()
	f.consumer = ""
	f.consumerMu.Unlock()
	cc, err := cons.Consume(func(m jetstream.Msg) { f.onMsg(epoch, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// The ordered consumer makes itself again after anything else.
			if errors.Is(err, jetstream.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionClosed) {
				select {
				case f.closed <- err:
				default:
				}
			}
		}))
	if err != nil {
		return fmt.Errorf("natslog: watch: %w", err)
	}
	f.cons, f.cc = cons, cc
	return nil
}

// stopConsumer stops the current consumer and deletes it from the server
// (best effort: the server forgets it after consumerIdle anyway). It does
// not wait: an ordered consumer that is making itself again on a stream
// that is gone (a NATS restart) cannot be stopped until it has made
// itself, which is seconds later once the stream is back (nats.go's
// backoff); what it hands over meanwhile is of an older epoch. run waits
// for every stop at its end (stopping).
func (f *follower) stopConsumer() {
	if f.cc == nil {
		return
	}
	cons, cc := f.cons, f.cc
	f.cons, f.cc = nil, nil
	f.stopping.Go(func() {
		cc.Stop()
		<-cc.Closed()
		if info := cons.CachedInfo(); info != nil && !f.l.nc.IsClosed() {
			ctx, cancel := context.WithTimeout(context.Background(), f.l.cfg.Timeout)
			_ = f.l.js.DeleteConsumer(ctx, f.l.cfg.Stream, info.Name)
			cancel()
		}
	})
}

// onMsg hands a message of the stream to the watches of its room. It
// never waits for a watch (see watch.push).
func (f *follower) onMsg(epoch uint64, m jetstream.Msg) {
	l := f.l
	meta, err := m.Metadata()
	if err != nil {
		return // not a consumer's message: nothing to follow
	}
	l.fmu.RLock()
	defer l.fmu.RUnlock()
	if epoch != f.epoch {
		return // a replaced consumer's
	}
	l.stats.followPending.Store(meta.NumPending)
	f.consumerMu.Lock()
	if f.consumer != "" && meta.Consumer != f.consumer {
		l.stats.followResets.Add(1) // the ordered consumer made itself again
	}
	f.consumer = meta.Consumer
	f.consumerMu.Unlock()
	ws := f.rooms[m.Subject()]
	if len(ws) == 0 {
		return // a room this node does not watch
	}
	it := item{stored: stored{seq: meta.Sequence.Stream}}
	if it.rec, err = decode(m.Data()); err != nil {
		it.err = fmt.Errorf("natslog: message %d: %w", meta.Sequence.Stream, err)
	}
	for w := range ws {
		w.push(it, l.cfg.WatchQueue, &l.stats)
	}
}

// onDropped tells the watches of a room another Log dropped to look at it.
func (f *follower) onDropped(m *nats.Msg) {
	tok := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	f.flag(f.l.cfg.Prefix+".room."+tok, false, nil)
}

// flag flags the watches of subj, or all with subj "".
func (f *follower) flag(subj string, lost bool, err error) {
	f.l.fmu.RLock()
	defer f.l.fmu.RUnlock()
	for s, ws := range f.rooms {
		if subj != "" && s != subj {
			continue
		}
		for w := range ws {
			w.flag(lost, err)
		}
	}
}

// run looks at the stream every WatchCheck until the follower stops, or
// its connection closes (then every watch fails with the error).
func (f *follower) run() {
	defer close(f.done)
	defer func() {
		f.dropped.Unsubscribe()
		f.stopConsumer()
		f.stopping.Wait()
	}()
	tick := time.NewTicker(f.l.cfg.WatchCheck)
	defer tick.Stop()
	for {
		select {
		case <-f.quit:
			return
		case err := <-f.closed:
			f.fail(err)
			return
		case <-tick.C:
			if f.l.nc.IsClosed() {
				f.fail(nats.ErrConnectionClosed)
				return
			}
			f.check()
		}
	}
}

// fail ends every watch with err, and the follower: no Watch joins it
// any more.
func (f *follower) fail(err error) {
	f.l.fmu.Lock()
	if f.l.fol == f {
		f.l.fol = nil
	}
	f.l.fmu.Unlock()
	f.flag("", false, fmt.Errorf("natslog: watch: %w", err))
}

// check looks at the stream's info (see the comment at the top). A NATS
// that does not answer is waited for, as the consumer does.
func (f *follower) check() {
	if !f.l.nc.IsConnected() {
		return // a request now would wait in the reconnect buffer
	}
	// Not the full Timeout: a request sent as the connection drops is lost,
	// and the next check, not this one, should see the server back.
	ctx, cancel := context.WithTimeout(context.Background(), min(f.l.cfg.Timeout, max(f.l.cfg.WatchCheck, minCheckTimeout)))
	defer cancel()
	info, err := f.l.streamInfo(ctx)
	if err != nil {
		return
	}
	made := !info.Created.Equal(f.created) || info.State.LastSeq < f.last || info.State.FirstSeq < f.first
	purged := info.State.Msgs < f.msgs
	if made || f.cc == nil {
		f.restart(ctx, info, made)
		return
	}
	f.look(info)
	if purged {
		f.flag("", false, nil)
	}
}

// restart follows the stream afresh from the message after info's last,
// and sends every watch to look at its room; lost says the stream was
// made again, so what they passed on is gone. If the consumer cannot be
// made, the next check tries again.
func (f *follower) restart(ctx context.Context, info *jetstream.StreamInfo, lost bool) {
	f.stopConsumer()
	f.l.stats.followResets.Add(1)
	if err := f.consume(ctx, info.State.LastSeq+1); err != nil {
		return
	}
	f.look(info)
	f.flag("", lost, nil)
}
