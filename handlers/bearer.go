package handlers

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
)

// Bots and scripts join with Accept: application/json and get a token, which
// they send back as "Authorization: Bearer <token>". The token is 128 random
// bits in 32 lowercase hex digits, shown once in the join response, and never
// read from a URL (where it would end up in logs and histories).
//
// The server keeps only the token's SHA-256, in chat beside the member it
// acts as, so the token dies in the same step as its member (leave, the away
// timeout, and with them the room) with no second record to keep in step. A
// fast hash is enough here: slow, salted hashes exist to stop guessing of
// low-entropy passwords, and 128 uniformly random bits cannot be guessed, so
// a stolen digest is as useless as a stolen salted one, and each request
// costs one SHA-256 rather than a deliberately slow derivation.

var (
	errInvalidToken = errors.New("the token is not valid: it is wrong, or its member has left the room")
	errTokenRoom    = errors.New("the token belongs to a member of another room")
)

// newToken returns a fresh bearer token and its digest.
func newToken() (string, chat.Digest) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	token := hex.EncodeToString(b[:])
	return token, digestOf(token)
}

// digestOf is what the server keeps of a token.
func digestOf(token string) chat.Digest { return sha256.Sum256([]byte(token)) }

// bearerToken returns the token of an "Authorization: Bearer" header, and
// whether the request has one. Other schemes are not ours and are ignored.
func bearerToken(r *http.Request) (string, bool) {
	// "Bearer" alone (a client that sent an empty token, its trailing space
	// trimmed on the way) is a bearer request too, to be refused.
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// An actor is the member a request acts as: a bearer's, or one of the
// browser's (id 0: its latest in the room).
type actor struct {
	owner  string
	id     uint64
	bearer bool
}

// actorOf finds who a request acts as in a room: the member of its bearer
// token (errInvalidToken, errTokenRoom), else the browser's member m.
func actorOf(c echo.Context, hub *chat.Hub, room, m string) (actor, error) {
	token, ok := bearerToken(c.Request())
	if !ok {
		id, err := memberParam(m)
		return actor{owner: session(c), id: id}, err
	}
	if !validSession(token) { // the same shape: 32 hex digits
		return actor{}, errInvalidToken
	}
	hd, ok, err := hub.BearerIn(room, digestOf(token)) // on any node serving the room
	if err != nil {
		return actor{}, err // the shared store could not be asked: not the token's fault
	}
	if !ok {
		return actor{}, errInvalidToken
	}
	name, err := chat.RoomName(room)
	if err != nil {
		return actor{}, err
	}
	if name != hd.Room {
		return actor{}, errTokenRoom
	}
	return actor{owner: hd.Owner, id: hd.Member, bearer: true}, nil
}

// gone turns "not a member" into errInvalidToken for a bearer: its member
// left between the token's check and the action, and the token died with it.
func (a actor) gone(err error) error {
	if a.bearer && errors.Is(err, chat.ErrNotMember) {
		return errInvalidToken
	}
	return err
}

// crossOrigin refuses cross-origin unsafe requests, as
// http.CrossOriginProtection does, except those that carry a bearer token and
// no cookie: with no ambient credential such a request can only act as
// whoever holds the token, so another site gains nothing by sending it.
func crossOrigin(p *http.CrossOriginProtection) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if _, bearer := bearerToken(r); bearer && r.Header.Get("Cookie") == "" {
				return next(c)
			}
			if err := p.Check(r); err != nil {
				return echo.NewHTTPError(http.StatusForbidden, "cross-origin requests are refused")
			}
			return next(c)
		}
	}
}

// wantsJSON tells bots and scripts, which ask for JSON or authenticate with a
// bearer token, from browsers and curl.
func wantsJSON(c echo.Context) bool {
	r := c.Request()
	if _, bearer := bearerToken(r); bearer {
		return true
	}
	// A URL that names JSON (a transcript's .json) is asked for as JSON,
	// its errors too, whatever the Accept header says.
	return strings.Contains(r.Header.Get("Accept"), "application/json") || strings.HasSuffix(r.URL.Path, ".json")
}

// joined is the JSON answer to a bot's join. The token is shown only here.
type joined struct {
	Room   string `json:"room"`
	Member uint64 `json:"member"`
	Name   string `json:"name"`
	Token  string `json:"token"`
}

// joinBot makes a bot a member of a room and answers with its token.
func joinBot(c echo.Context, hub *chat.Hub, room, username string) error {
	name, err := chat.RoomName(room)
	if err != nil {
		return err
	}
	if _, _, err := chat.Nickname(username); err != nil {
		return err
	}
	token, digest := newToken()
	m, err := hub.JoinBearer(digest, name, username)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, joined{Room: name, Member: m.ID, Name: m.Name, Token: token})
}
