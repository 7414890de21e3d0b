// Package natslog is a chat.Log kept in NATS JetStream, so that several
// Cloakroom servers share their rooms' sealed events.
//
// One stream holds every room; a room is the subject <prefix>.room.<token>,
// where the token comes from Config.RoomToken (an HMAC of the room's name in
// production), never the name itself: names may hold '.', '*', '>' or
// spaces, and NATS need not learn them. The stream keeps at most History
// messages per subject, in memory unless Config.Storage says file.
//
// What NATS sees: each room's token and how many rooms there are; per
// record its id in the room, the member number, the client's message id as
// given, the sealed bytes' size, and when it was stored (each message also
// keeps the Nats-Expected-Last-Subject-Sequence header it was published
// with: its predecessor's stream sequence); which connection appends to
// and reads which room, and when (a Watch's first read included), and that
// a connection follows every room (one consumer per Log, whatever rooms it
// watches); which room's token is dropped, and when. The sealed bytes
// themselves are opaque (see chat and crypto).
//
// Ids stay consecutive per room whichever server appends: JetStream's
// sequences count the whole stream, so each record carries its room id in
// its envelope, and Append is a compare-and-set on the subject's last
// sequence (the Nats-Expected-Last-Subject-Sequence header).
//
// Reads use direct gets, which with Replicas > 1 any replica answers: a
// replica a moment behind the leader may miss the newest records. Appends
// stay exact (the leader checks the condition); a Read may lag by the
// replication delay.
//
// It needs nats-server 2.11 or later (batched direct gets).
package natslog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Storage is where the NATS servers keep the stream (and natsstate's
// bucket: one setting for both).
type Storage int

// Storages. Memory is the default: a restart of the NATS servers forgets
// every room, which keeps the promise that events live only in memory.
const (
	Memory Storage = iota
	File
)

// StorageType is s as JetStream names it; an s neither Memory nor File is
// an error.
func (s Storage) StorageType() (jetstream.StorageType, error) {
	switch s {
	case Memory:
		return jetstream.MemoryStorage, nil
	case File:
		return jetstream.FileStorage, nil
	}
	return 0, fmt.Errorf("Config.Storage %d is neither Memory nor File", s)
}

// Defaults of Config.
const (
	DefaultStream     = "CLOAKROOM"
	DefaultPrefix     = "cloakroom"
	DefaultTimeout    = 5 * time.Second
	DefaultWatchCheck = 2 * time.Second
)

// Config configures a Log. The caller owns the connection: a Log never
// closes it.
type Config struct {
	// JetStream is used if set; otherwise Conn, with JetStream's default
	// API prefix. One of the two is required.
	JetStream jetstream.JetStream
	Conn      *nats.Conn

	Stream   string  // the stream's name; DefaultStream if empty
	Prefix   string  // subjects are Prefix.room.<token>; DefaultPrefix if empty
	History  int     // records kept per room; chat.DefaultHistory if ≤ 0
	Storage  Storage // Memory unless File
	Replicas int     // copies of the stream in a NATS cluster; 1 if ≤ 0

	// RoomToken maps a room's name to the subject token that stands for it:
	// the same for the same name on every server, at most one name per
	// token, and a valid token (no '.', '*', '>' or white space, not empty).
	// Required.
	RoomToken func(room string) string

	// Timeout bounds each of Append, Read, Bounds and Drop, and each request
	// of Watch; DefaultTimeout if ≤ 0.
	Timeout time.Duration
	// WatchCheck is how often the Log, while it watches rooms, looks at
	// the stream's info (one request, however many rooms): a purge or a
	// NATS restart delivers nothing, so only a look tells watchers they
	// must reset. DefaultWatchCheck if ≤ 0.
	WatchCheck time.Duration
	// WatchQueue bounds the records waiting for each Watch's fn; past it
	// the Watch reads what it missed from the stream instead (see
	// follow.go). DefaultWatchQueue if ≤ 0.
	WatchQueue int
}

// A Log is a chat.Log in a JetStream stream. It is safe for concurrent use;
// many Logs, on as many connections and servers, may share one stream.
type Log struct {
	js            jetstream.JetStream
	nc            *nats.Conn
	cfg           Config
	stream        jetstream.StreamConfig
	directSubject string // the direct get API's subject for the stream
	batchBytes    int    // bytes per batch answer; 0 is the server's limit (tests set it lower)

	mu   sync.Mutex
	cids map[string]*cidIndex // by subject: the client ids of rooms this Log appended to

	startMu sync.Mutex   // held while a follower starts
	fmu     sync.RWMutex // guards fol and its rooms and epoch
	fol     *follower    // following the stream for the running Watches; nil while none runs
	stats   counters

	placed func(room string) // tests: called when a Watch has read what the room kept
}

var _ chat.Log = (*Log)(nil)

// New returns a Log on the stream cfg names, creating the stream, or
// updating its limits, to match cfg. A stream of that name that cannot be
// made to match (other storage, other subjects) is an error that says so.
func New(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.RoomToken == nil {
		return nil, errors.New("natslog: Config.RoomToken is required")
	}
	js := cfg.JetStream
	if js == nil {
		if cfg.Conn == nil {
			return nil, errors.New("natslog: Config.JetStream or Config.Conn is required")
		}
		var err error
		if js, err = jetstream.New(cfg.Conn); err != nil {
			return nil, fmt.Errorf("natslog: %w", err)
		}
	}
	cfg.Stream = cmp.Or(cfg.Stream, DefaultStream)
	cfg.Prefix = cmp.Or(cfg.Prefix, DefaultPrefix)
	if strings.ContainsAny(cfg.Prefix, "*> \t\r\n") || slices.Contains(strings.Split(cfg.Prefix, "."), "") {
		return nil, fmt.Errorf("natslog: Config.Prefix %q is not a subject without wildcards", cfg.Prefix)
	}
	storage, err := cfg.Storage.StorageType()
	if err != nil {
		return nil, fmt.Errorf("natslog: %w", err)
	}
	if cfg.History <= 0 {
		cfg.History = chat.DefaultHistory
	}
	cfg.Replicas = max(cfg.Replicas, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.WatchCheck <= 0 {
		cfg.WatchCheck = DefaultWatchCheck
	}
	if cfg.WatchQueue <= 0 {
		cfg.WatchQueue = DefaultWatchQueue
	}
	l := &Log{
		js:  js,
		nc:  js.Conn(),
		cfg: cfg,
		stream: jetstream.StreamConfig{
			Name:              cfg.Stream,
			Description:       "Cloakroom's rooms: sealed events, one subject per room",
			Subjects:          []string{cfg.Prefix + ".room.*"},
			Retention:         jetstream.LimitsPolicy,
			MaxMsgs:           -1,
			MaxBytes:          -1,
			MaxMsgsPerSubject: int64(cfg.History),
			Discard:           jetstream.DiscardOld,
			Storage:           storage,
			Replicas:          cfg.Replicas,
			AllowDirect:       true,
		},
		directSubject: apiPrefix(js.Options()) + "DIRECT.GET." + cfg.Stream,
		cids:          make(map[string]*cidIndex),
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := l.ensureStream(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// apiPrefix is the JetStream API's subject prefix, with its final '.'.
func apiPrefix(o jetstream.JetStreamOptions) string {
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return jetstream.DefaultAPIPrefix
}

// ensureStream creates the stream, or updates it to the Log's config,
// unless the stream keeps more records per room than the Log's History:
// lowering it would cut every room's history on every node at once, for
// one node started with a smaller history (a stream that keeps fewer is
// raised: nothing is lost).
func (l *Log) ensureStream(ctx context.Context) error {
	if st, err := l.js.Stream(ctx, l.stream.Name); err == nil {
		if kept := st.CachedInfo().Config.MaxMsgsPerSubject; kept > l.stream.MaxMsgsPerSubject {
			return fmt.Errorf("natslog: stream %s keeps %d records per room, more than this Log's History (%d), which would cut every room's history for every node: give every node the same history (to lower it, lower the stream's max messages per subject first)",
				l.stream.Name, kept, l.stream.MaxMsgsPerSubject)
		}
	}
	if _, err := l.js.CreateOrUpdateStream(ctx, l.stream); err != nil {
		return fmt.Errorf("natslog: stream %s (storage %s, subjects %s, %d per subject, %d replicas) cannot be created or updated to match: %w",
			l.stream.Name, l.stream.Storage, l.stream.Subjects[0], l.stream.MaxMsgsPerSubject, l.stream.Replicas, err)
	}
	return nil
}

// subject returns the room's subject, or an error if RoomToken gave a
// token that would not be one subject token.
func (l *Log) subject(room string) (string, error) {
	tok := l.cfg.RoomToken(room)
	if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") {
		return "", fmt.Errorf("natslog: RoomToken gave %q, not a subject token", tok)
	}
	return l.cfg.Prefix + ".room." + tok, nil
}

func (l *Log) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), l.cfg.Timeout)
}

// withStream runs f, and once more after making the stream again if f
// found it gone: after a NATS restart with memory storage the stream is
// gone until someone makes it, and then every room is empty, which is what
// readers and writers should see. If JetStream itself does not answer, the
// error stays.
func (l *Log) withStream(ctx context.Context, f func() error) error {
	err := f()
	if errors.Is(err, errStreamGone) {
		if err = l.ensureStream(ctx); err == nil {
			err = f()
		}
	}
	return err
}

// Drop implements chat.Log: it purges the room's subject up to the first
// record with an id above through (all of it when there is none, up to
// the newest record when it read it: a record appended since stays), and
// announces it on <prefix>.dropped.<token>, so that watchers of the room
// on every node look again at once.
func (l *Log) Drop(room string, through uint64) error {
	if err := Reachable(l.nc); err != nil {
		return fmt.Errorf("natslog: drop: %w", err)
	}
	subj, err := l.subject(room)
	if err != nil {
		return err
	}
	l.mu.Lock()
	delete(l.cids, subj)
	l.mu.Unlock()
	ctx, cancel := l.context()
	defer cancel()
	st, err := l.js.Stream(ctx, l.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // nothing is kept at all
	}
	var below uint64 // the purge takes the subject's sequences below it
	var held bool
	if err == nil {
		below, _, held, err = l.locate(ctx, subj, through)
	}
	if err == nil && held {
		err = st.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(below))
	}
	if err != nil {
		return fmt.Errorf("natslog: drop: %w", Unavailable(err))
	}
	// Tell the followers, this Log's and other nodes', that the room lost
	// its records (see follow.go); a lost announcement leaves them to
	// their checks.
	_ = l.nc.Publish(l.cfg.Prefix+".dropped."+subj[strings.LastIndexByte(subj, '.')+1:], nil)
	return nil
}
