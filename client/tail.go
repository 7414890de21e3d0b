package client

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"
)

// maxEvent bounds one event as tail reads it, in bytes. r3labs/sse's client
// caps an event at 64 KiB by default; the server's largest event (a 16 KiB
// message escaped into JSON; a live join's member list, over 64 KiB for a
// room of several hundred members with long names) can exceed that. Over the
// cap, r3labs's reader fails, reconnects with the last id it saw and gets
// the event again from history, which for a join lacks the member list: the
// live event would be lost without a word.
const maxEvent = 4 << 20

// Reconnection: the first retry after a drop waits about a quarter second,
// each further one half as long again, never more than maxRetryWait; every
// wait is jittered by ±50% so that many tails cut off together (a server
// restart) do not all come back in the same instant.
const (
	firstRetryWait = 250 * time.Millisecond
	maxRetryWait   = 5 * time.Second
)

// TailConfig says what Tail follows.
type TailConfig struct {
	Server string // base URL, e.g. http://localhost:5000
	Room   string
	Format string // "text" or "json"
	// Since is the id to resume after (0: all the room keeps); below 0, only
	// live events are sent.
	Since int64
	// Notices, if set, gets one line per lost connection and retry; the
	// events themselves go to Tail's out.
	Notices io.Writer
}

// Tail follows a room's event stream until ctx ends, writing each event's
// data to out, one line per data line: messages, joins and leaves, member
// lists, and a reset's notice. It resumes across drops with Last-Event-ID,
// retrying without end; it returns early only when the server refuses the
// stream with a 4xx (an invalid room or format), with the server's reason.
// It returns nil once ctx ends.
func Tail(ctx context.Context, cfg TailConfig, out io.Writer) error {
	u, err := streamURL(cfg)
	if err != nil {
		return err
	}
	c := sse.NewClient(u, sse.ClientMaxBufferSize(maxEvent))
	c.Connection.Transport = wholeEventsTransport{http.DefaultTransport}
	c.ResponseValidator = checkStream
	var writeErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.ReconnectStrategy = retryStrategy(ctx)
	notice := func(format string, args ...any) {
		if cfg.Notices != nil {
			fmt.Fprintf(cfg.Notices, "cloakroom tail: "+format+"\n", args...)
		}
	}
	c.ReconnectNotify = func(err error, wait time.Duration) {
		notice("%v; trying again in %v", err, wait.Round(time.Millisecond))
	}
	print := func(e *sse.Event) {
		// Data is empty only for an event the server never sends; a line
		// for it would be noise.
		if len(e.Data) == 0 || writeErr != nil {
			return
		}
		if _, writeErr = fmt.Fprintf(out, "%s\n", e.Data); writeErr != nil {
			cancel() // stdout is gone (a closed pipe): nobody reads us
		}
	}
	for {
		// r3labs retries a failed connect or a broken stream itself (with
		// the backoff below) and sends the last id it saw as Last-Event-ID.
		// A stream the server ends cleanly (EOF, as on a restart) counts
		// as success and ends the subscription, so this loop subscribes
		// again, after a jittered pause that keeps a server that answers
		// and hangs up at once from being hammered.
		err := c.SubscribeRawWithContext(ctx, print)
		if writeErr != nil {
			return writeErr
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		wait := jitter(firstRetryWait)
		notice("the server ended the stream; reconnecting in %v", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// streamURL is the room's stream with the format and the starting point.
func streamURL(cfg TailConfig) (string, error) {
	base, err := url.Parse(cfg.Server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return "", fmt.Errorf("--server must be an http:// or https:// URL, not %q", cfg.Server)
	}
	q := url.Values{"format": {cfg.Format}}
	if cfg.Since >= 0 {
		// Only the first connect uses it: every later one sends
		// Last-Event-ID, which the server prefers.
		q.Set("since", strconv.FormatInt(cfg.Since, 10))
	}
	return strings.TrimSuffix(base.String(), "/") + "/rooms/" + url.PathEscape(cfg.Room) + "/events?" + q.Encode(), nil
}

// retryStrategy is the bounded, jittered backoff between reconnects; it
// stops when ctx ends.
func retryStrategy(ctx context.Context) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = firstRetryWait
	b.MaxInterval = maxRetryWait
	b.MaxElapsedTime = 0 // a tail waits for its server for as long as it runs
	return backoff.WithContext(b, ctx)
}

// jitter is d scaled by a random factor in [0.5, 1.5).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// checkStream accepts a 200 and refuses for good a 4xx other than 408 and
// 429, which no retry can fix; anything else is retried.
func checkStream(_ *sse.Client, resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	defer resp.Body.Close()
	err := fmt.Errorf("%s: %s", resp.Status, serverSentence(resp.Body))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return backoff.Permanent(err)
	}
	return err
}

// TailCommand is `cloakroom tail [flags] ROOM`.
func TailCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cloakroom tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", DefaultServer, "the Cloakroom server's URL")
	since := fs.Int64("since", -1, "print the kept events after this id first (0: all the room keeps); without it, only new ones")
	format := fs.String("format", "text", "text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cloakroom tail [flags] ROOM\nFollows a room, printing each event; resumes across drops.")
		fs.PrintDefaults()
	}
	room, err := oneArg(fs, args, "ROOM")
	if errors.Is(err, flag.ErrHelp) {
		return nil // the usage is printed; asking for it is no failure
	}
	if err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", *format)
	}
	if *since < -1 {
		return errors.New("--since must be an event id (0 or more)")
	}
	return Tail(ctx, TailConfig{Server: *server, Room: room, Format: *format, Since: *since, Notices: stderr}, stdout)
}
