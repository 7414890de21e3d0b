package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/limits"
)

// options are the settings a user can give, as flags or environment.
type options struct {
	addr         string
	history      int
	maxRooms     int
	maxMembers   int
	maxOwnNames  int
	maxStreams   int
	away         time.Duration
	roomIdle     time.Duration
	logLevel     string
	logFormat    logFormat
	shutdownWait time.Duration
	drain        time.Duration

	// Per-client limits; 0 turns each off.
	limits         limits.Config
	trustedProxies limits.Proxies

	metricsAddr string // "": no metrics; addr: /metrics on the main address

	// Files holding the master key and the one before it (keyfile.go).
	masterKeyFile    string
	oldMasterKeyFile string
	tls              tlsOptions     // HTTPS, ACME, --http-addr and HSTS (tls.go)
	cluster          clusterOptions // --nats and its company (cluster.go)
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("cloakroom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if !helpAsked(args) { // a bad flag: its error is enough, not 60 lines
			fmt.Fprintln(fs.Output(), "Run cloakroom --help for the commands and every flag.")
			return
		}
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", "localhost:5000", "address to listen on")
	fs.IntVar(&o.history, "history", chat.DefaultHistory, "events kept per room")
	fs.IntVar(&o.maxRooms, "max-rooms", chat.DefaultMaxRooms, "rooms that may exist at once")
	fs.IntVar(&o.maxMembers, "max-members", chat.DefaultMaxMembers, "members per room")
	fs.IntVar(&o.maxOwnNames, "max-own-names", chat.DefaultMaxOwnNames, "names one browser may hold in one room (one per tab)")
	fs.IntVar(&o.maxStreams, "max-streams", chat.DefaultMaxReaders, "open event streams, over all rooms")
	fs.DurationVar(&o.away, "away-timeout", chat.DefaultAwayTimeout, "a member away this long leaves the room")
	fs.DurationVar(&o.roomIdle, "room-idle", chat.DefaultRoomIdle, "a room with no members is dropped, with its history, after this long without a join, leave or post, whoever still watches its stream")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	o.logFormat = "text"
	fs.Var(&o.logFormat, "log-format", "`format` of log lines: text (key=value) or json (one JSON object a line)")
	fs.DurationVar(&o.shutdownWait, "shutdown-timeout", 5*time.Second, "on SIGTERM or SIGINT, the longest the server takes to answer what is in flight and exit (the drain included)")
	fs.DurationVar(&o.drain, "shutdown-drain", time.Second, "on SIGTERM or SIGINT, how long the server first goes on answering, every new request with 503 (health checks see it going), before it stops accepting")
	// The README's Configuration table says why each default is what it is.
	fs.IntVar(&o.limits.Streams, "client-streams", 100, "open event streams per client (IPv4 address or IPv6 /64); 0: no limit")
	fs.IntVar(&o.limits.JoinsPerMinute, "client-joins", 30, "joins per client per minute; 0: no limit")
	fs.Float64Var(&o.limits.MemberPosts.PerSecond, "member-post-rate", 1, "posts per second per member, over its burst; 0: no limit")
	fs.IntVar(&o.limits.MemberPosts.Burst, "member-post-burst", 10, "posts a member may send at once; 0: no limit")
	fs.Float64Var(&o.limits.ClientPosts.PerSecond, "client-post-rate", 5, "posts per second per client, all its members together, over its burst; 0: no limit")
	fs.IntVar(&o.limits.ClientPosts.Burst, "client-post-burst", 20, "posts a client may send at once; 0: no limit")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "address to serve Prometheus metrics (/metrics) and /readyz on; the same as --addr adds /metrics there; empty: no metrics")
	fs.Func("trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For or X-Real-IP names the client", func(s string) (err error) {
		o.trustedProxies, err = limits.ParseProxies(s)
		return err
	})
	fs.StringVar(&o.masterKeyFile, "master-key-file", "", "file holding the 32-byte master key as hex or base64, mode 0600 or 0400 (make one: cloakroom keygen FILE); without it the key is random, for this process only")
	fs.StringVar(&o.oldMasterKeyFile, "old-master-key-file", "", "after a rotation, the file of the key used before --master-key-file's: records sealed under it still open")
	addTLSFlags(fs, &o.tls)
	addClusterFlags(fs, &o.cluster)
	// Every flag can also come from the environment, as CLOAKROOM_ and its
	// name in capitals (CLOAKROOM_MAX_ROOMS); a flag on the command line wins.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		f.Usage += " (env " + name + ")"
		if v := getenv(name); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.history < 1 || o.maxRooms < 1 || o.maxMembers < 1 || o.maxOwnNames < 1 || o.maxStreams < 1 || o.away <= 0 || o.roomIdle <= 0 || o.shutdownWait <= 0 {
		return o, errors.New("limits and timeouts must be positive")
	}
	if o.drain < 0 || o.drain >= o.shutdownWait {
		return o, errors.New("--shutdown-drain must be at least 0 and shorter than --shutdown-timeout")
	}
	l := o.limits
	if l.Streams < 0 || l.JoinsPerMinute < 0 || !validRate(l.MemberPosts) || !validRate(l.ClientPosts) {
		return o, errors.New("per-client limits must be 0 (off) or positive")
	}
	if err := o.tls.check(len(o.trustedProxies) > 0); err != nil {
		return o, err
	}
	if err := o.cluster.check(o.masterKeyFile); err != nil {
		return o, err
	}
	return o, nil
}

// validRate: a finite rate and a burst, each 0 (off) or positive.
func validRate(r limits.Rate) bool {
	return r.PerSecond >= 0 && !math.IsInf(r.PerSecond, 1) && r.Burst >= 0 // NaN fails the first
}

// logFormat is how log lines are written: "text" or "json" (flag.Value).
type logFormat string

func (f *logFormat) String() string { return string(*f) }

func (f *logFormat) Set(s string) error {
	switch s = strings.ToLower(s); s {
	case "text", "json":
		*f = logFormat(s)
		return nil
	}
	return errors.New("must be text or json")
}

// newLogger writes lines of level and above to w, as text (key=value) or,
// for format "json", one JSON object a line.
func newLogger(w io.Writer, format logFormat, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		opts.ReplaceAttr = escapeC1
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// escapeC1 writes DEL and the C1 controls (U+0080 to U+009F) in a string
// attribute as the six characters \u0085 (lowercase hex). slog's JSON
// handler escapes C0 controls and U+2028/2029 but leaves these raw, and a
// client chooses the bytes of a logged path: U+009B is a CSI to terminals
// that take C1 controls in UTF-8, U+0085 a line break to some readers. The
// text handler quotes them already (strconv.Quote).
func escapeC1(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindString {
		return a
	}
	s := a.Value.String()
	isC1 := func(r rune) bool { return r == 0x7f || 0x80 <= r && r <= 0x9f }
	if strings.IndexFunc(s, isC1) < 0 {
		return a
	}
	var b strings.Builder
	for _, r := range s {
		if isC1(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return slog.String(a.Key, b.String())
}

func envName(flagName string) string {
	return "CLOAKROOM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// usageHead leads --help, before every flag.
const usageHead = `Cloakroom: a self-hosted room chat in one binary.

Usage:
  cloakroom [flags]                 serve (http://localhost:5000 by default)
  cloakroom tail [flags] ROOM       print a room's events as they come
  cloakroom say [flags] ROOM TEXT   post to a room as a bot
  cloakroom keygen FILE|-           write a new master key (see --master-key-file)
  cloakroom version                 print the version, revision and Go version

Flags of the server (each also CLOAKROOM_ and its name in capitals):
`

// helpAsked reports whether args ask for help (-h, -help, --help) before
// any "--" that ends the flags.
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
