package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natsstate"
	"github.com/nats-io/nats.go"
)

// clusterOptions say how a node shares its rooms with others through NATS
// JetStream (README "Running several nodes"). Without a URL the node is
// alone and keeps everything in its own memory.
type clusterOptions struct {
	url      string // nats:// or tls:// URLs, comma-separated; "": alone
	creds    string // a NATS credentials file (JWT and NKey seed)
	ca       string // PEM roots to check the NATS servers' certificates with
	storage  natsStorage
	replicas int
	node     string // this node's name in the rooms' states; "" makes one
}

func addClusterFlags(fs *flag.FlagSet, o *clusterOptions) {
	fs.StringVar(&o.url, "nats", "", "NATS server URL(s), comma-separated, with JetStream: rooms are shared with every node using the same NATS and master key; empty: this node alone, in memory")
	fs.StringVar(&o.creds, "nats-creds", "", "NATS credentials `file` (user JWT and NKey seed)")
	fs.StringVar(&o.ca, "nats-ca", "", "PEM `file` of the CA that signed the NATS servers' certificates (for tls:// URLs)")
	o.storage = natsStorage(natslog.Memory)
	fs.Var(&o.storage, "nats-storage", "where NATS keeps the rooms: memory (gone when the NATS servers restart) or file (sealed records on their disks)")
	fs.IntVar(&o.replicas, "nats-replicas", 1, "copies of the rooms' stream and bucket in a NATS cluster (1, 3 or 5)")
	fs.StringVar(&o.node, "node", "", "this node's name among the nodes, letters, digits, '-' and '_'; empty: the host name and a random suffix")
}

// check is called after parsing: the cluster flags need --nats, and --nats
// needs a master key every node shares.
func (o *clusterOptions) check(masterKeyFile string) error {
	if o.url == "" {
		if o.creds != "" || o.ca != "" {
			return errors.New("--nats-creds and --nats-ca need --nats")
		}
		return nil
	}
	if masterKeyFile == "" {
		return errors.New("--nats needs --master-key-file: every node must seal and open the rooms with the same key (make one with cloakroom keygen FILE)")
	}
	switch o.replicas {
	case 1, 3, 5:
	default:
		return fmt.Errorf("--nats-replicas %d: must be 1, 3 or 5", o.replicas)
	}
	if o.node != "" && !validNodeName(o.node) {
		return fmt.Errorf("--node %q: use 1 to 64 letters, digits, '-' or '_'", o.node)
	}
	return nil
}

// natsStorage is --nats-storage (flag.Value).
type natsStorage natslog.Storage

func (s *natsStorage) String() string {
	if natslog.Storage(*s) == natslog.File {
		return "file"
	}
	return "memory"
}

func (s *natsStorage) Set(v string) error {
	switch strings.ToLower(v) {
	case "memory":
		*s = natsStorage(natslog.Memory)
	case "file":
		*s = natsStorage(natslog.File)
	default:
		return errors.New("must be memory or file")
	}
	return nil
}

// validNodeName: what chat.CheckNode takes, a token of a NATS key.
func validNodeName(s string) bool { return chat.CheckNode(s) == nil }

// defaultNodeName is the host's name, cut to what a node name may hold, and
// 8 random hex digits: two processes on one host (or a restart while the
// old one's state entries live) never share a name.
func defaultNodeName() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if validNodeName(string(r)) {
			return r
		}
		return '-'
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.Trim(host+"-"+hex.EncodeToString(b[:]), "-")
}

// stateAD is the associated data of every sealed room state: a fixed
// string of its own, so a state never opens as an event record, whose
// associated data is the record's place (chat), and the reverse.
var stateAD = []byte("cloakroom/v1 room state")

// cluster is a node's share of the rooms: its NATS connection, the stream
// (natslog) and the bucket (natsstate).
type cluster struct {
	nc    *nats.Conn
	log   *natslog.Log
	state *natsstate.Store
	node  string
}

// joinCluster connects to NATS and opens (creating them if need be) the
// rooms' stream and bucket. It gives up after timeout; once connected,
// the connection reconnects for ever, and the node is not ready meanwhile.
func joinCluster(ctx context.Context, o clusterOptions, history int, box *crypto.Box, log *slog.Logger, timeout time.Duration) (*cluster, error) {
	node := o.node
	if node == "" {
		node = defaultNodeName()
	}
	opts := []nats.Option{
		nats.Name("cloakroom " + node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(timeout),
		// A server that stops answering (paused, a dead link) is noticed
		// in about 10 s rather than nats.go's default 4 minutes: until
		// then the node would look ready.
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // this node closed it, shutting down
			}
			log.Warn("lost the NATS connection; not ready until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS connection back", "server", nc.ConnectedUrlRedacted())
		}),
		// nats.go's own default prints these to stderr, outside the log.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject // a token or a node's name, never a room's
			}
			log.Warn("NATS error", "subject", subject, "err", err)
		}),
	}
	if o.creds != "" {
		opts = append(opts, nats.UserCredentials(o.creds))
	}
	if o.ca != "" {
		opts = append(opts, nats.RootCAs(o.ca))
	}
	nc, err := nats.Connect(o.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("--nats: connect: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	token := func(room string) string { return box.Token("room", room) }
	lg, err := natslog.New(ctx, natslog.Config{
		Conn: nc, History: history, Storage: natslog.Storage(o.storage), Replicas: o.replicas, RoomToken: token,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("--nats: the rooms' stream: %w", err)
	}
	st, err := natsstate.New(ctx, natsstate.Config{
		Conn: nc, Storage: natslog.Storage(o.storage), Replicas: o.replicas, RoomToken: token,
		Seal: func(room string, p []byte) ([]byte, error) { return box.Seal(room, p, stateAD) },
		Open: func(room string, c []byte) ([]byte, error) { return box.Open(room, c, stateAD) },
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("--nats: the rooms' bucket: %w", err)
	}
	// Two nodes under one name would each take the other for dead at
	// every sweep (README "Running several nodes").
	// A live node beats every NodeTTL/4: within NodeTTL, even a slow one.
	// Its own context: the wait may be longer than what is left of ctx.
	inUse, err := st.NodeInUse(context.Background(), node, chat.DefaultNodeTTL)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("--nats: %w", err)
	}
	if inUse {
		nc.Close()
		return nil, fmt.Errorf("--node %s: a running node already uses this name; give each node its own", node)
	}
	log.Info("sharing rooms through NATS", "server", nc.ConnectedUrlRedacted(), "node", node,
		"storage", o.storage.String(), "replicas", o.replicas)
	return &cluster{nc: nc, log: lg, state: st, node: node}, nil
}

// configure makes a Hub's config share the cluster's rooms.
func (c *cluster) configure(cfg *chat.Config) {
	cfg.Log, cfg.State, cfg.Node, cfg.Shared = c.log, c.state, c.node, true
}

// connected reports whether the node can reach NATS now; a nil cluster
// (a lone node) always can.
func (c *cluster) connected() bool { return c == nil || c.nc.IsConnected() }

// leave ends the node's part in the cluster: hub.Close (the followers
// stop, and the rooms' states learn that this node keeps nobody present),
// then the connection closes. hub.Close waits on NATS, which may be gone:
// it gets at most wait, less if the connection is down already, and then
// the closed connection fails what it still waits for. A nil cluster (a
// lone node) only closes the hub.
func (c *cluster) leave(hub *chat.Hub, wait time.Duration, log *slog.Logger) {
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		hub.Close()
	}()
	if c == nil {
		<-closed
		return
	}
	if !c.nc.IsConnected() {
		wait = 0
	}
	select {
	case <-closed:
	case <-time.After(wait):
		log.Warn("NATS did not answer in time at shutdown; members this node kept present stay so until the other nodes find it gone", "waited", wait.String())
	}
	_ = c.nc.FlushTimeout(500 * time.Millisecond)
	c.nc.Close()
	select {
	case <-closed:
	case <-time.After(500 * time.Millisecond):
	}
}

// sweepRooms is hub.Run that also logs: NATS that does not answer (or
// rooms other nodes keep changing) fails sweeps for a while, which is
// passing trouble (chat.Passing), said once when it begins and once when
// it ends; any other error of a sweep ends it.
func sweepRooms(ctx context.Context, hub *chat.Hub, interval time.Duration, log *slog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := hub.Sweep()
		switch {
		case err == nil:
			if failing {
				log.Info("sweeping rooms works again")
			}
			failing = false
		case chat.Passing(err):
			if !failing {
				log.Warn("sweeping rooms failed, trying again each sweep: the shared rooms cannot be reached or kept changing", "err", err)
			}
			failing = true
		default:
			return err
		}
	}
}
