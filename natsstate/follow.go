package natsstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A Store follows the bucket once, however many rooms it watches: one key
// watcher on every key, started by the first Watch and stopped with the
// last, hands each change of a room's key to the watches of its room (a
// follower). It watches the owner index's keys too and passes them over:
// so it sees every change of the bucket's stream, which its silence check
// below needs. Each watch keeps only the newest change not yet passed on (a
// slot, overwritten), which Watch's contract allows, so the follower never
// waits for a slow fn.
//
// What no change shows — a NATS restart that lost the bucket, a bucket
// made again — the follower looks for once per Store every
// Config.WatchCheck, in the bucket's stream info (one request, however
// many rooms): a new creation time, or sequences gone backwards, mean the
// bucket was made again, so it follows the new one and every watch reads
// its key afresh. A stream whose last sequence stays ahead of what the
// key watcher handed over at two looks in a row means the key watcher
// fell silent: it is made again the same way.

// minCheckTimeout is the least time a look at the bucket's info may take.
const minCheckTimeout = 500 * time.Millisecond

// Stats are a Store's figures since it was made, for metrics.
type Stats struct {
	// UpdateConflicts counts Updates and Deletes that returned
	// chat.ErrConflict: another writer changed the room's state first.
	UpdateConflicts uint64
	// Watchers is how many Watch calls are running.
	Watchers int
	// FollowResets counts the follower's fresh starts: the bucket found
	// made again (a NATS restart with memory storage), or its key watcher
	// silent.
	FollowResets uint64
}

type counters struct {
	updateConflicts, followResets atomic.Uint64
	watchers                      atomic.Int64
}

// Stats returns the Store's figures now.
func (s *Store) Stats() Stats {
	return Stats{
		UpdateConflicts: s.stats.updateConflicts.Load(),
		Watchers:        int(s.stats.watchers.Load()),
		FollowResets:    s.stats.followResets.Load(),
	}
}

// An entry is a change of a key as the follower saw it.
type entry struct {
	value []byte        // nil for a delete or purge
	rev   chat.Revision // the state's revision; 0 for a delete or purge
	seq   uint64        // the bucket stream's sequence of the change
}

// A keyWatch is one Watch's mailbox, filled by the follower.
type keyWatch struct {
	key  string
	f    *follower
	kick chan struct{}

	mu      sync.Mutex
	slot    *entry // the newest change not yet taken
	recheck bool   // the bucket was made again: read the key afresh
	err     error
}

func (w *keyWatch) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *keyWatch) put(e entry) {
	w.mu.Lock()
	if w.slot == nil || e.seq > w.slot.seq {
		w.slot = &e
	}
	w.mu.Unlock()
	w.poke()
}

func (w *keyWatch) flag(err error) {
	w.mu.Lock()
	w.recheck, w.slot = true, nil
	if err != nil && w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.poke()
}

func (w *keyWatch) take() (slot *entry, recheck bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	slot, recheck, err = w.slot, w.recheck, w.err
	w.slot, w.recheck = nil, false
	return slot, recheck, err
}

// A follower is a Store's one key watcher on the whole bucket.
type follower struct {
	s      *Store
	ctx    context.Context // the key watchers'; cancelled when run ends
	cancel context.CancelFunc
	quit   chan struct{} // closed to stop it
	done   chan struct{} // closed when run has ended

	// Guarded by s.fmu:
	rooms map[string]map[*keyWatch]struct{} // by key
	n     int

	// run's, once started (handed, the newest sequence handed over, is
	// also the reader's):
	kw          jetstream.KeyWatcher
	reading     sync.WaitGroup // the current key watcher's reader
	created     time.Time
	last        uint64 // the bucket stream's last sequence at the last look
	handed      atomic.Uint64
	behind      uint64    // the stream's last sequence when it was last ahead of handed
	behindSince time.Time // when it first was
}

// join adds w to the Store's follower, starting one if none runs; see
// natslog's Log.join for why the locks are so.
func (s *Store) join(ctx context.Context, w *keyWatch) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	s.fmu.Lock()
	if s.fol == nil {
		s.fmu.Unlock()
		f, err := s.startFollower(ctx)
		if err != nil {
			return err
		}
		s.fmu.Lock()
		s.fol = f
	}
	defer s.fmu.Unlock()
	f := s.fol
	w.f = f
	ws := f.rooms[w.key]
	if ws == nil {
		ws = make(map[*keyWatch]struct{})
		f.rooms[w.key] = ws
	}
	ws[w] = struct{}{}
	f.n++
	s.stats.watchers.Add(1)
	return nil
}

// leave removes w, stopping the follower with its last watch.
func (s *Store) leave(w *keyWatch) {
	s.fmu.Lock()
	f := w.f
	if ws := f.rooms[w.key]; ws != nil {
		delete(ws, w)
		if len(ws) == 0 {
			delete(f.rooms, w.key)
		}
	}
	f.n--
	s.stats.watchers.Add(-1)
	last := f.n == 0 && s.fol == f
	if last {
		s.fol = nil
	}
	s.fmu.Unlock()
	if last {
		close(f.quit)
		<-f.done
	}
}

// startFollower starts following the bucket after its last change.
func (s *Store) startFollower(ctx context.Context) (*follower, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	f := &follower{
		s:     s,
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		rooms: make(map[string]map[*keyWatch]struct{}),
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	info, err := s.bucketInfo(ctx)
	if err == nil {
		err = f.watch(info)
	}
	if err != nil {
		f.cancel()
		return nil, fmt.Errorf("natsstate: watch: %w", err)
	}
	go f.run()
	return f, nil
}

// bucketInfo asks for the bucket's stream info, making the bucket again
// if it is gone.
func (s *Store) bucketInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	err := s.withBucket(ctx, func() error {
		st, err := s.js.Stream(ctx, s.streamName())
		if err != nil {
			return err
		}
		info = st.CachedInfo()
		return nil
	})
	return info, err
}

// watch starts a key watcher on every key from the message after info's
// last.
func (f *follower) watch(info *jetstream.StreamInfo) error {
	f.created, f.last, f.behind = info.Created, info.State.LastSeq, 0
	f.handed.Store(info.State.LastSeq)
	kw, err := f.s.kv.WatchAll(f.ctx, jetstream.ResumeFromRevision(info.State.LastSeq+1))
	if err != nil {
		return err
	}
	f.kw = kw
	f.reading.Go(func() { f.read(kw) })
	return nil
}

// stopWatch stops the current key watcher and waits for its reader.
func (f *follower) stopWatch() {
	if f.kw == nil {
		return
	}
	_ = f.kw.Stop()
	f.reading.Wait()
	f.kw = nil
}

// read hands each change the key watcher sends to the watches of its key,
// until the key watcher stops.
func (f *follower) read(kw jetstream.KeyWatcher) {
	for e := range kw.Updates() {
		if e == nil {
			continue // the end of the changes pending at its start
		}
		f.handed.Store(e.Revision())
		ent := entry{seq: e.Revision()}
		if e.Operation() == jetstream.KeyValuePut {
			ent.value, ent.rev = e.Value(), chat.Revision(e.Revision())
		}
		f.s.fmu.RLock()
		for w := range f.rooms[e.Key()] {
			w.put(ent)
		}
		f.s.fmu.RUnlock()
	}
}

// flag sends every watch to read its key afresh, or ends it with err.
func (f *follower) flag(err error) {
	f.s.fmu.RLock()
	defer f.s.fmu.RUnlock()
	for _, ws := range f.rooms {
		for w := range ws {
			w.flag(err)
		}
	}
}

// run looks at the bucket every WatchCheck until the follower stops, or
// its connection closes (then every watch fails).
func (f *follower) run() {
	defer close(f.done)
	defer func() {
		f.stopWatch()
		f.cancel()
	}()
	tick := time.NewTicker(f.s.cfg.WatchCheck)
	defer tick.Stop()
	for {
		select {
		case <-f.quit:
			return
		case <-tick.C:
			if f.s.nc.IsClosed() {
				f.s.fmu.Lock()
				if f.s.fol == f {
					f.s.fol = nil
				}
				f.s.fmu.Unlock()
				f.flag(fmt.Errorf("natsstate: watch: %w", nats.ErrConnectionClosed))
				return
			}
			f.check()
		}
	}
}

// check looks at the bucket's stream info (see the top of this file). A
// NATS that does not answer is waited for.
func (f *follower) check() {
	if !f.s.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(f.s.cfg.Timeout, max(f.s.cfg.WatchCheck, minCheckTimeout)))
	defer cancel()
	info, err := f.s.bucketInfo(ctx)
	if err != nil {
		return
	}
	made := !info.Created.Equal(f.created) || info.State.LastSeq < f.last
	// Ahead at the last look too, with nothing appended since, for long
	// enough that a change on its way would have arrived: silent.
	silent := false
	switch last := info.State.LastSeq; {
	case last <= f.handed.Load():
		f.behind = 0
	case last != f.behind:
		f.behind, f.behindSince = last, time.Now()
	default:
		silent = time.Since(f.behindSince) >= max(f.s.cfg.WatchCheck, minCheckTimeout)
	}
	f.last = info.State.LastSeq
	if !made && !silent && f.kw != nil {
		return
	}
	f.s.stats.followResets.Add(1)
	f.stopWatch()
	if err := f.watch(info); err != nil {
		return // the next look tries again
	}
	f.flag(nil)
}

// lastEntry returns the key's newest change: its value and revision (nil
// and 0 for none, a delete or a purge) and the bucket stream's sequence
// of the change (0 for none).
func (s *Store) lastEntry(ctx context.Context, key string) (entry, error) {
	var e entry
	err := s.withBucket(ctx, func() error {
		m, err := s.stream.GetLastMsgForSubject(ctx, "$KV."+s.cfg.Bucket+"."+key)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			e = entry{}
			return nil
		}
		if err != nil {
			return err
		}
		e = entry{seq: m.Sequence}
		if m.Header.Get("KV-Operation") == "" && m.Header.Get(jetstream.MarkerReasonHeader) == "" {
			e.value, e.rev = m.Data, chat.Revision(m.Sequence)
		}
		return nil
	})
	if err != nil {
		return entry{}, fmt.Errorf("natsstate: watch: %w", err)
	}
	return e, nil
}

// streamName is the name of the bucket's stream.
func (s *Store) streamName() string { return "KV_" + s.cfg.Bucket }
