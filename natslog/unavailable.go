package natslog

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Unavailable returns err marked as chat.ErrUnavailable (errors.Is finds
// both) when it says the NATS servers could not be reached or did not
// answer in time: a timeout, no responders (no JetStream, or the stream is
// being made again), a closed, draining or reconnecting connection. Other
// errors are returned as they are. The web layer answers the first kind
// with 503 and Retry-After, as a node that lost NATS for a moment should.
// natsstate uses it too.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, chat.ErrUnavailable) {
		return err
	}
	for _, e := range []error{
		context.DeadlineExceeded, nats.ErrTimeout, nats.ErrNoResponders, jetstream.ErrNoStreamResponse,
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting, nats.ErrDisconnected,
		jetstream.ErrStreamNotFound,
	} {
		if errors.Is(err, e) {
			return unavailable{err}
		}
	}
	return err
}

type unavailable struct{ err error }

func (u unavailable) Error() string   { return u.err.Error() }
func (u unavailable) Unwrap() []error { return []error{u.err, chat.ErrUnavailable} }

// Reachable returns nil while nc is connected, else an error marked
// chat.ErrUnavailable. A request made while nats.go reconnects would wait
// out its whole timeout (5 s by default) before failing; Append, Read,
// Bounds and Drop, and natsstate's Load, Update and Delete, ask this first
// and fail at once, so a post or a join is answered 503 without the wait.
func Reachable(nc *nats.Conn) error {
	if nc.IsConnected() {
		return nil
	}
	return unavailable{fmt.Errorf("not connected to NATS (%v)", nc.Status())}
}
