package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
)

// The session cookie names a browser: its value is 128 random bits, and the
// memberships it made are bound to it, so nobody can post as a member their
// own browser did not join. It is the only thing the server knows of a
// browser, and it is never logged.
const sessionCookie = "cloakroom_session"

// session returns the owner the browser's session id stands for in chat
// (Config.Owner of it), or "" when it has none.
func session(c echo.Context) string {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || !validSession(ck.Value) {
		return ""
	}
	return ownerOf(c, ck.Value)
}

// ownerKey is where withOwner keeps Config.Owner in a request's context.
const ownerKey = "cloakroom.owner"

// withOwner hands Config.Owner to session and renewSession.
func withOwner(owner func(string) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(ownerKey, owner)
			return next(c)
		}
	}
}

// ownerOf maps a valid session id to its owner.
func ownerOf(c echo.Context, id string) string {
	if f, ok := c.Get(ownerKey).(func(string) string); ok {
		return f(id)
	}
	return id
}

func validSession(v string) bool {
	if len(v) != 32 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil
}

// renewSession gives the browser a fresh session id, moves to its owner all
// that its old one had, and returns the new owner. Every join does this, so
// an id planted in a browser by someone else (session fixation) owns nothing
// once the browser joins.
func renewSession(c echo.Context, hub *chat.Hub) string {
	id := newSessionID()
	owner := ownerOf(c, id)
	if old := session(c); old != "" {
		hub.Rebind(old, owner)
	}
	c.SetCookie(&http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		Secure:   isHTTPS(c), // never on a spoofable header: see overHTTPS
		SameSite: http.SameSiteLaxMode,
	})
	return owner
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
