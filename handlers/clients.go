package handlers

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/limits"
)

// Per-client limits (package limits) over HTTP: which client a request
// counts as, and a 429 with Retry-After past a limit.

// clientAddress is Echo's IPExtractor, which c.RealIP() answers with: the
// peer's address, or, from a trusted proxy, the client it forwards for
// (limits.Proxies.Client). Echo's own ExtractIPFromXFFHeader is not used:
// it trusts loopback and private networks unless told otherwise, reads one
// of the two headers only, and its answer would be parsed again here.
func clientAddress(proxies limits.Proxies) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	return func(r *http.Request) string {
		peer, err := limits.ParseAddr(r.RemoteAddr)
		if err != nil {
			return echo.ExtractIPDirect()(r)
		}
		client := proxies.Client(peer, r.Header.Values(echo.HeaderXForwardedFor), r.Header.Get(echo.HeaderXRealIP))
		return client.String()
	}
}

// clientKey is the client a request counts as for the limits: its address,
// or the /64 of an IPv6 one.
func clientKey(c echo.Context) netip.Prefix {
	a, _ := limits.ParseAddr(c.RealIP()) // unknown (not TCP): the zero key, shared
	return limits.Key(a)
}

// slowDown is a refusal by a per-client limit: 429 Too Many Requests, with
// Retry-After in whole seconds.
type slowDown struct {
	retry time.Duration
	msg   string
}

func (e *slowDown) Error() string { return e.msg }

// seconds is the wait rounded up to whole seconds, at least one.
func (e *slowDown) seconds() int {
	return max(1, int((e.retry+time.Second-1)/time.Second))
}

// newSlowDown makes a slowDown whose message says the wait in seconds
// (format takes it as %d).
func newSlowDown(retry time.Duration, format string) *slowDown {
	e := &slowDown{retry: retry}
	e.msg = fmt.Sprintf(format, e.seconds())
	return e
}

// streamRetry is the Retry-After of a stream refused for the client's count
// of open streams: no bucket says when, as a place frees only when one of
// its streams ends.
const streamRetry = 10 * time.Second

// openStream counts a stream of the request's client, or refuses it: an
// event stream, or a transcript being written (both hold the server for as
// long as the client reads). release must be called when it ends, however
// it ends.
func openStream(c echo.Context, lim *limits.Limits) (release func(), err error) {
	release, ok := lim.OpenStream(clientKey(c))
	if !ok {
		return nil, &slowDown{retry: streamRetry, msg: fmt.Sprintf(
			"Your address already has %d event streams or transcript downloads open, the most one client may; close one and try again", lim.StreamLimit())}
	}
	return release, nil
}

// spendJoin counts a join of the request's client, or refuses it.
func spendJoin(c echo.Context, lim *limits.Limits) error {
	if wait := lim.Join(clientKey(c)); wait > 0 {
		return newSlowDown(wait, "Slow down — you can join again in %d s")
	}
	return nil
}

// spendPost counts a post by who against its member's bucket and its
// client's, or refuses it. Where posts are limited per member it first
// finds the member (one of the browser's: its latest for id 0), so that
// nobody spends another's bucket, and returns who with that member's id.
func spendPost(c echo.Context, hub *chat.Hub, lim *limits.Limits, who actor) (actor, error) {
	var member uint64
	if lim.PerMember() {
		m, err := hub.Membership(who.owner, c.Param("room"), who.id)
		if err != nil {
			return who, who.gone(err)
		}
		who.id, member = m.ID, m.ID
	}
	if wait := lim.Post(clientKey(c), member); wait > 0 {
		return who, newSlowDown(wait, "Slow down — you can send again in %d s")
	}
	return who, nil
}
