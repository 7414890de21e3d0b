package natsstate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/nats-io/nats.go/jetstream"
)

// nodePrefix begins the key of each node's beat: node.<name>.
const nodePrefix = "node."

// nodeKeyTTL is how long the server keeps a node's key after its last beat
// (a per-message TTL, which the bucket allows since it has a
// LimitMarkerTTL): names of nodes that are gone, such as the default names
// with a random suffix of earlier starts, do not pile up. Tests shorten it.
var nodeKeyTTL = time.Hour

var _ chat.NodeRegistry = (*Store)(nil)

// nodeWatch is a Store's view of the nodes' beats: one KeyValue watcher of
// node.> per Store, started by its first Beat or Alive, keeping the newest
// beat of each name, rather than a listing of the keys at each sweep. Its
// zero value is ready. Every field is guarded by mu.
type nodeWatch struct {
	mu      sync.Mutex
	gen     int                // of the watcher now running; an older one's goroutine drops what it reads
	running bool               // a watcher is running, or being started
	stop    context.CancelFunc // ends the running watcher's consumer
	known   bool               // the running watcher sent the keys' values as they were when it began
	beats   map[string]beat    // by node name
	newest  time.Time          // the newest beat's time, on the server's clock
	// This Store's last two beats per name, and the last revision the
	// watcher sent for it: see beatSeen.
	put  map[string][2]uint64
	seen map[string]uint64
}

// A beat is a node's newest beat as the bucket holds it.
type beat struct {
	node string    // name/run, as passed to Beat
	at   time.Time // when the server stored it
}

// Beat implements chat.NodeRegistry: it puts node (name/run) as the value
// of the key node.<name>, which the server removes nodeKeyTTL after. now is not used: the server stamps each entry
// with its own clock (KeyValueEntry.Created), and Alive goes by that, so
// that the nodes' clocks need not agree.
func (s *Store) Beat(node string, _ time.Time) error {
	name, _, err := chat.SplitNode(node)
	if err != nil {
		return err
	}
	key := nodePrefix + name
	w := &s.nodes
	w.mu.Lock()
	if !w.running || !w.beatSeen(name) {
		s.watchNodes()
	}
	w.mu.Unlock()

	ctx, cancel := s.context()
	defer cancel()
	var rev uint64
	err = s.withBucket(ctx, func() error {
		// A publish to the key's subject, as KeyValue.Put makes, with a
		// TTL, which Put cannot give.
		ack, err := s.js.Publish(ctx, "$KV."+s.kvc.Bucket+"."+key, []byte(node), jetstream.WithMsgTTL(nodeKeyTTL))
		if err == nil {
			rev = ack.Sequence
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("natsstate: beat: %w", err)
	}
	w.mu.Lock()
	if w.put == nil {
		w.put = make(map[string][2]uint64)
	}
	w.put[name] = [2]uint64{w.put[name][1], rev}
	w.mu.Unlock()
	return nil
}

// beatSeen reports whether the watcher has sent this Store's beat before
// its last of the name (or there was none): the one before, or a later
// one. A watcher that has not lost its stream sends a beat within
// milliseconds, and beats are seconds apart; one that has not is silent
// (the bucket was lost and made again under it, after a NATS restart with
// memory storage: revisions then begin again lower) and is started
// afresh. It is called with w.mu held.
func (w *nodeWatch) beatSeen(name string) bool {
	p := w.put[name]
	return p[0] == 0 || p[0] <= w.seen[name] && w.seen[name] <= p[1]
}

// Alive implements chat.NodeRegistry: the nodes whose newest beat the
// server stored less than ttl before the newest beat of any node (this
// one's included, which it makes every few seconds), so the server's clock
// alone decides, and a Store whose watcher falls behind takes no node for
// dead, since its newest beat falls behind too. now is not used. known is
// false until the watcher has sent every beat the bucket held when it
// began.
func (s *Store) Alive(_ time.Time, ttl time.Duration) (map[string]bool, bool, error) {
	w := &s.nodes
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		s.watchNodes()
	}
	if !w.known {
		return nil, false, nil
	}
	alive := make(map[string]bool)
	for _, b := range w.beats {
		if w.newest.Sub(b.at) < ttl {
			alive[b.node] = true
		}
	}
	return alive, true, nil
}

// watchNodes starts a watcher of node.> afresh, ending the one running:
// its goroutine reads the keys' values, then every beat, until the
// watcher is stopped or the connection closes. It is called with
// s.nodes.mu held, and does not wait for NATS.
func (s *Store) watchNodes() {
	w := &s.nodes
	if w.stop != nil {
		w.stop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.gen++
	w.running, w.stop, w.known = true, cancel, false
	w.beats, w.seen, w.newest = make(map[string]beat), make(map[string]uint64), time.Time{}
	gen := w.gen
	go func() {
		defer cancel()
		var kw jetstream.KeyWatcher
		err := s.withBucket(ctx, func() (err error) {
			kw, err = s.kv.Watch(ctx, nodePrefix+">")
			return err
		})
		if err != nil {
			w.ended(gen)
			return
		}
		stop := context.AfterFunc(ctx, func() { _ = kw.Stop() })
		defer stop()
		// Read until the channel closes (Stop, or the connection closed),
		// an outdated watcher's included: the client blocks on a full
		// channel.
		for e := range kw.Updates() {
			w.entry(gen, e)
		}
		w.ended(gen)
	}()
}

// entry records what watcher gen sent: a beat, a delete or purge, or nil
// (the end of the values the keys held when it began).
func (w *nodeWatch) entry(gen int, e jetstream.KeyValueEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen != w.gen {
		return
	}
	if e == nil {
		w.known = true
		return
	}
	name := strings.TrimPrefix(e.Key(), nodePrefix)
	if e.Operation() != jetstream.KeyValuePut {
		delete(w.beats, name)
		return
	}
	w.beats[name] = beat{node: string(e.Value()), at: e.Created()}
	w.seen[name] = e.Revision()
	if e.Created().After(w.newest) {
		w.newest = e.Created()
	}
}

// ended notes that watcher gen stopped, so the next Beat or Alive starts
// another.
func (w *nodeWatch) ended(gen int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen == w.gen {
		w.running, w.known = false, false
	}
}

// NodeInUse reports whether a running node beats under name now: one whose
// beat is younger than wait and that beats again within wait (a node that
// crashed beats no more). A node starting under a name in use would take
// the other for dead at each sweep and be taken for dead in turn, their
// members' presence written and cleared over and over, so the caller
// refuses to start. It waits at most wait, only when the name's last beat
// is that recent (a node restarted at once after a crash). The age of the
// last beat is measured on this machine's clock against the server's
// stamp: a clock behind the server's makes a beat look younger, which
// costs a wait, never a wrong answer.
func (s *Store) NodeInUse(ctx context.Context, name string, wait time.Duration) (bool, error) {
	key := nodePrefix + name
	get := func() (jetstream.KeyValueEntry, bool, error) {
		ctx, cancel := s.context()
		defer cancel()
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("natsstate: node %s: %w", name, natslog.Unavailable(err))
		}
		return e, true, nil
	}
	e, ok, err := get()
	if err != nil || !ok || time.Since(e.Created()) > wait {
		return false, err
	}
	tick := time.NewTicker(wait / 20)
	defer tick.Stop()
	deadline := time.After(wait)
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-deadline:
			return false, nil
		case <-tick.C:
			again, ok, err := get()
			if err != nil {
				return false, err
			}
			if ok && again.Revision() != e.Revision() {
				return true, nil
			}
		}
	}
}
