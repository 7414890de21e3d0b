// Package natsstate is a chat.StateStore in a NATS JetStream key-value
// bucket, so that several Cloakroom servers share each room's members,
// names, presence and lives, and decide on them by compare-and-set.
//
// It is its own package, beside natslog rather than inside it, because it
// is another seam (chat.StateStore, not chat.Log) on another JetStream
// object (a bucket, not the stream), and because it seals what it stores
// (the Log is handed records already sealed). Both take the same RoomToken.
//
// # Layout
//
// One bucket (DefaultBucket) holds one key per room, room.<token>, where
// the token is Config.RoomToken(room) (an HMAC of the name under the
// master key in production), never the name. The value is the room's
// chat.RoomState as JSON, sealed by Config.Seal with the room's name, so a
// value copied to another room's key does not open. The bucket keeps one
// revision per key (history 1): the key's revision is the state's
// chat.Revision, and Update is KeyValue.Update with that revision (Create
// for revision 0), which the NATS server checks atomically. Memory storage
// is the default, like the log's; Replicas is for a NATS cluster.
//
// A dropped room is not deleted: its key keeps the room's tombstone
// (chat.RoomState.Tombstone), which holds the floor of its ids, so its
// next life, begun on any node, starts above every id it used. A tombstone
// is a few dozen bytes sealed; one is kept per room name ever used, until
// NATS restarts (memory storage) or an operator purges the bucket.
//
// The same bucket holds the owner index (chat.OwnerIndex, owners.go): one
// key per browser session that joined a room, owner.<token>, the token
// being Config.RoomToken of a NUL-prefixed owner (so never a room's token,
// and never the owner itself). Its value, sealed like a state (for a label
// no room can have), is the owner and the names of the rooms it joined,
// oldest first, at most chat.MaxOwnerRooms. Each browser join rewrites its
// session's entry (unless the room is already its newest); each session
// renewal merges the entry into the new session's and purges the old key
// at its revision, and the purge marker goes after a minute (the bucket's
// LimitMarkerTTL, which needs nats-server 2.11). An entry of a browser that
// never comes back stays until NATS restarts (memory storage) or an
// operator purges it.
//
// # Nodes
//
// The Store is also a chat.NodeRegistry (nodes.go), in the same bucket:
// each node's Hub puts the key node.<name> (its Config.Node, which
// chat.CheckNode keeps to one key token) every Config.NodeTTL/4, 2 s by
// default, with the value <name>/<run>, the run being 16 random hex
// digits drawn when the Hub started. One watcher of node.> per Store keeps
// each name's newest beat and the server's time of it (the entry's
// Created): a node is alive while its beat is less than the TTL (8 s by
// default) older than the newest beat of any node, so only the NATS
// server's clock counts, never the nodes'. Each beat is put with a TTL of
// an hour (per-message TTL, nats-server 2.11, as the bucket's
// LimitMarkerTTL), so the key of a node gone for an hour goes too (the
// default node names, with a random suffix per start, would pile up
// otherwise); a node that comes back under its name replaces the run in
// its key. What NATS sees of nodes: their names, a random
// run per start, which connection beats for which name, and the beats'
// timing, which tells when a node started, stopped or stalled.
//
// # Limits
//
// MaxMembers and MaxOwnNames hold across the cluster: they are decided on
// the room's shared state (chat.StateLimits). MaxReaders and MaxRooms stay
// per node. A Store follows the whole bucket with one key watcher,
// however many rooms it watches (follow.go), and looks at the bucket's
// info every WatchCheck (2 s by default): one request, not one per room.
//
// # What NATS can still see
//
// How many rooms there are (keys) and which token each is; the size of each
// sealed state (which grows with the number of members and their names, so
// it tells roughly how many members a room has, and each join or leave
// changes it); when each room's state changes, and so when members join,
// leave, open or close a tab, or go away (each is a write); which
// connection (node) writes and reads which room (a Watch reads its key
// when it starts; its changes come through the one key watcher on every
// key of the bucket). For the owner index: one
// key per browser session that joined (so roughly how many browsers use
// the chat), the size of each entry (about the number of rooms that
// browser joined, up to chat.MaxOwnerRooms), and when it changes: at each
// join of that browser into a room that is not its newest, and at each
// renewal of its session, when one key is purged and another written at
// once (which links the old session's key to the new one's, and so a
// browser's joins over time). Not: room names, member names, owners, bot
// token digests or presence values, which are all inside the sealed
// values. Someone able to write to the bucket cannot forge a
// state, but can put back an older sealed state of the same room (a
// rollback) or delete a key (the room's state is lost, as after a restart).
//
// # Crash between a state update and the event append
//
// A join or leave is decided in the state with a chat.Pending entry (the
// event to append and a client id no client can send). The node whose
// update won appends the event under that id, then removes the entry with
// another update (RoomState.Settle). If it dies in between, the entry stays
// in the state; any node that loads the state and finds entries older than
// the grace period (chat.Repair says which, in which order) appends them
// itself and settles them. The log's client-id check makes the append
// exactly-once: an append that finds the id returns the record already
// there, and the node only settles. What is not covered: if more than the
// log's history of posts followed the crashed node's append before the
// repair, the log no longer holds the id and the event is appended a
// second time (a duplicate announcement, never a lost one).
//
// It is tested with nats-server v2.15.2, the version the tests embed; it
// uses KeyValue Get, Create, Update, Watch and Purge with a marker TTL
// (LimitMarkerTTL, new in 2.11), nothing that natslog's minimum (2.11)
// lacks.
package natsstate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config.
const (
	DefaultBucket     = "cloakroom-rooms"
	DefaultTimeout    = 5 * time.Second
	DefaultWatchCheck = 2 * time.Second
)

// Config configures a Store. The caller owns the connection: a Store never
// closes it.
type Config struct {
	// JetStream is used if set; otherwise Conn, with JetStream's default
	// API prefix. One of the two is required.
	JetStream jetstream.JetStream
	Conn      *nats.Conn

	Bucket   string          // the bucket's name; DefaultBucket if empty
	Storage  natslog.Storage // Memory unless File; a restart of the NATS servers then forgets every room's state, as it forgets the log
	Replicas int             // copies of the bucket in a NATS cluster; 1 if ≤ 0

	// RoomToken maps a room's name to the token its key holds: the same
	// for the same name on every server, at most one name per token, and
	// made of a-z, A-Z, 0-9, '-', '_' and '='. Required.
	RoomToken func(room string) string
	// Seal and Open seal a room's encoded state and open it again (with
	// crypto.Box and the room's name in production). Open must fail for a
	// value sealed for another room. Required.
	Seal func(room string, plaintext []byte) ([]byte, error)
	Open func(room string, sealed []byte) ([]byte, error)

	// Timeout bounds each of Load, Update and Delete, and each request of
	// Watch; DefaultTimeout if ≤ 0.
	Timeout time.Duration
	// WatchCheck is how often the Store, while it watches rooms, looks at
	// the bucket's info to learn whether it was lost and made again (see
	// follow.go); DefaultWatchCheck if ≤ 0.
	WatchCheck time.Duration
}

// A Store is a chat.StateStore in a JetStream key-value bucket. It is safe
// for concurrent use; many Stores, on as many connections and servers, may
// share one bucket.
type Store struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	cfg    Config
	kvc    jetstream.KeyValueConfig
	kv     jetstream.KeyValue
	stream jetstream.Stream // the bucket's, for its last change per key with its sequence

	startMu sync.Mutex   // held while a follower starts
	fmu     sync.RWMutex // guards fol and its rooms
	fol     *follower    // following the bucket for the running Watches; nil while none runs
	stats   counters

	nodes nodeWatch // the nodes' beats (nodes.go)
}

var _ chat.StateStore = (*Store)(nil)

// New returns a Store on the bucket cfg names, creating the bucket, or
// updating it to match cfg. A bucket of that name that cannot be made to
// match is an error that says so.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.RoomToken == nil || cfg.Seal == nil || cfg.Open == nil {
		return nil, errors.New("natsstate: Config.RoomToken, Seal and Open are required")
	}
	js := cfg.JetStream
	if js == nil {
		if cfg.Conn == nil {
			return nil, errors.New("natsstate: Config.JetStream or Config.Conn is required")
		}
		var err error
		if js, err = jetstream.New(cfg.Conn); err != nil {
			return nil, fmt.Errorf("natsstate: %w", err)
		}
	}
	storage, err := cfg.Storage.StorageType()
	if err != nil {
		return nil, fmt.Errorf("natsstate: %w", err)
	}
	cfg.Bucket = cmp.Or(cfg.Bucket, DefaultBucket)
	cfg.Replicas = max(cfg.Replicas, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.WatchCheck <= 0 {
		cfg.WatchCheck = DefaultWatchCheck
	}
	s := &Store{
		js:  js,
		nc:  js.Conn(),
		cfg: cfg,
		kvc: jetstream.KeyValueConfig{
			Bucket:      cfg.Bucket,
			Description: "Cloakroom's rooms: the sealed state of each room, by token",
			History:     1,
			Storage:     storage,
			Replicas:    cfg.Replicas,
			// Moved owner entries leave a purge marker (owners.go).
			LimitMarkerTTL: ownerMarkerTTL,
		},
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if s.kv, err = s.ensureBucket(ctx); err != nil {
		return nil, err
	}
	// The handle names the stream only, so it serves one made again too.
	if s.stream, err = js.Stream(ctx, s.streamName()); err != nil {
		return nil, fmt.Errorf("natsstate: bucket %s: %w", s.kvc.Bucket, err)
	}
	return s, nil
}

// ensureBucket creates the bucket, or updates it to the Store's config.
// The handle it returns names the bucket only, so the one New keeps serves
// a bucket made again later too.
func (s *Store) ensureBucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, s.kvc)
	if err != nil {
		return nil, fmt.Errorf("natsstate: bucket %s (storage %s, %d replicas) cannot be created or updated to match: %w",
			s.kvc.Bucket, s.kvc.Storage, s.kvc.Replicas, err)
	}
	return kv, nil
}

// key returns the room's key, or an error if RoomToken gave a token that
// is not one key token.
func (s *Store) key(room string) (string, error) {
	tok := s.cfg.RoomToken(room)
	if tok == "" || strings.IndexFunc(tok, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '=')
	}) >= 0 {
		return "", fmt.Errorf("natsstate: RoomToken gave %q, not a key token", tok)
	}
	return "room." + tok, nil
}

func (s *Store) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.Timeout)
}

// gone reports errors that mean the bucket is not there: after a NATS
// restart with memory storage it is gone until someone makes it.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// withBucket runs f, and once more after making the bucket again if f
// found it gone; then every room has no state, which is what nodes should
// see. If JetStream itself does not answer, the error stays.
func (s *Store) withBucket(ctx context.Context, f func() error) error {
	err := f()
	if gone(err) {
		if _, err = s.ensureBucket(ctx); err == nil {
			err = f()
		}
	}
	return err
}

// open decodes a value of the room's key.
func (s *Store) open(room string, sealed []byte) (chat.RoomState, error) {
	plain, err := s.cfg.Open(room, sealed)
	if err != nil {
		return chat.RoomState{}, fmt.Errorf("natsstate: open the room's state: %w", err)
	}
	var st chat.RoomState
	if err := json.Unmarshal(plain, &st); err != nil {
		return chat.RoomState{}, fmt.Errorf("natsstate: decode the room's state: %w", err)
	}
	return st, nil
}

func (s *Store) seal(room string, st chat.RoomState) ([]byte, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("natsstate: encode the room's state: %w", err)
	}
	sealed, err := s.cfg.Seal(room, plain)
	if err != nil {
		return nil, fmt.Errorf("natsstate: seal the room's state: %w", err)
	}
	return sealed, nil
}

// get returns the key's value and revision, or nil and 0 when it has none.
func (s *Store) get(ctx context.Context, key string) ([]byte, chat.Revision, error) {
	var value []byte
	var rev chat.Revision
	err := s.withBucket(ctx, func() error {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			value, rev = nil, 0
			return nil
		}
		if err != nil {
			return err
		}
		value, rev = e.Value(), chat.Revision(e.Revision())
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("natsstate: load: %w", natslog.Unavailable(err))
	}
	return value, rev, nil
}

// Load implements chat.StateStore.
func (s *Store) Load(room string) (chat.RoomState, chat.Revision, error) {
	key, err := s.key(room)
	if err != nil {
		return chat.RoomState{}, 0, err
	}
	if err := natslog.Reachable(s.nc); err != nil {
		return chat.RoomState{}, 0, fmt.Errorf("natsstate: load: %w", err)
	}
	ctx, cancel := s.context()
	defer cancel()
	value, rev, err := s.get(ctx, key)
	if err != nil || rev == 0 {
		return chat.RoomState{}, 0, err
	}
	st, err := s.open(room, value)
	if err != nil {
		return chat.RoomState{}, 0, err
	}
	return st, rev, nil
}

// Update implements chat.StateStore.
func (s *Store) Update(room string, expect chat.Revision, st chat.RoomState) (chat.Revision, error) {
	if err := natslog.Reachable(s.nc); err != nil {
		return 0, fmt.Errorf("natsstate: update: %w", err)
	}
	return s.counted(s.update(room, expect, st))
}

// counted counts a compare-and-set lost (chat.ErrConflict) in Stats.
func (s *Store) counted(rev chat.Revision, err error) (chat.Revision, error) {
	if errors.Is(err, chat.ErrConflict) {
		s.stats.updateConflicts.Add(1)
	}
	return rev, err
}

func (s *Store) update(room string, expect chat.Revision, st chat.RoomState) (chat.Revision, error) {
	key, err := s.key(room)
	if err != nil {
		return 0, err
	}
	value, err := s.seal(room, st)
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.context()
	defer cancel()
	return s.put(ctx, key, expect, value)
}

// put writes value to key if its revision is still expect.
func (s *Store) put(ctx context.Context, key string, expect chat.Revision, value []byte) (chat.Revision, error) {
	var rev uint64
	err := s.withBucket(ctx, func() (err error) {
		if expect == 0 {
			// Create also takes a key whose last entry is a delete marker.
			rev, err = s.kv.Create(ctx, key, value)
		} else {
			rev, err = s.kv.Update(ctx, key, value, uint64(expect))
		}
		return err
	})
	switch {
	case expect == 0 && errors.Is(err, jetstream.ErrKeyExists),
		expect != 0 && errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, chat.ErrConflict
	case err != nil:
		return 0, fmt.Errorf("natsstate: update: %w", natslog.Unavailable(err))
	}
	return chat.Revision(rev), nil
}

// Delete implements chat.StateStore: the key keeps the room's tombstone.
func (s *Store) Delete(room string, expect chat.Revision) (chat.Revision, error) {
	if err := natslog.Reachable(s.nc); err != nil {
		return 0, fmt.Errorf("natsstate: delete: %w", err)
	}
	return s.counted(s.delete(room, expect))
}

func (s *Store) delete(room string, expect chat.Revision) (chat.Revision, error) {
	key, err := s.key(room)
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.context()
	defer cancel()
	value, rev, err := s.get(ctx, key)
	if err != nil {
		return 0, err
	}
	if rev != expect {
		return 0, chat.ErrConflict
	}
	if rev == 0 {
		return 0, nil
	}
	st, err := s.open(room, value)
	if err != nil {
		return 0, err
	}
	if value, err = s.seal(room, st.Tombstone()); err != nil {
		return 0, err
	}
	return s.put(ctx, key, expect, value)
}

// Watch implements chat.StateStore. It joins the Store's follower
// (follow.go), reads the room's key and passes it on, then passes on each
// change the follower hands it, skipping what is not newer than what it
// read. A delete or purge of the key (by an operator) is passed as the
// zero state at revision 0.
//
// After the bucket was lost and made again (a NATS restart with memory
// storage), the follower has every watch read its key afresh and pass on
// what it holds: fn may thus see a revision lower than the last it saw,
// or revision 0; either means the room's state began again.
func (s *Store) Watch(ctx context.Context, room string, fn func(chat.RoomState, chat.Revision) error) error {
	key, err := s.key(room)
	if err != nil {
		return err
	}
	kw := &keyWatch{key: key, kick: make(chan struct{}, 1)}
	// Joined before the first read: changes after it are handed over.
	if err := s.join(ctx, kw); err != nil {
		return err
	}
	defer s.leave(kw)
	w := &stateWatch{s: s, room: room, fn: fn}
	if err := w.read(ctx, key, false); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-kw.kick:
		}
		slot, recheck, err := kw.take()
		switch {
		case err != nil:
			return err
		case recheck:
			if err := w.read(ctx, key, true); err != nil {
				return err
			}
		case slot != nil && slot.seq > w.seq:
			w.seq = slot.seq
			if err := w.pass(slot.value, slot.rev); err != nil {
				return err
			}
		}
	}
}

// A stateWatch is one Watch's state.
type stateWatch struct {
	s    *Store
	room string
	fn   func(chat.RoomState, chat.Revision) error

	seq uint64 // the bucket stream's sequence of the newest change seen
	// What was last passed to fn; passed is false before the first call.
	passed bool
	rev    chat.Revision
	value  []byte
}

// read reads the key and passes on what it holds, unless it is not newer
// than what was seen; afresh, after the bucket began again, it is passed
// on whatever its sequence.
func (w *stateWatch) read(ctx context.Context, key string, afresh bool) error {
	ctx, cancel := context.WithTimeout(ctx, w.s.cfg.Timeout)
	defer cancel()
	e, err := w.s.lastEntry(ctx, key)
	if err != nil {
		return err
	}
	if !afresh && w.passed && e.seq <= w.seq {
		return nil
	}
	w.seq = e.seq
	return w.pass(e.value, e.rev)
}

// pass hands fn the state in value (nil: none) at rev, unless it is what
// fn was passed last.
func (w *stateWatch) pass(value []byte, rev chat.Revision) error {
	if w.passed && rev == w.rev && bytes.Equal(value, w.value) {
		return nil
	}
	var st chat.RoomState
	if rev != 0 {
		var err error
		if st, err = w.s.open(w.room, value); err != nil {
			return err
		}
	}
	w.passed, w.rev, w.value = true, rev, value
	return w.fn(st, rev)
}
