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

// session returns the browser's session id, or "" when it has none.
func session(c echo.Context) string {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || !validSession(ck.Value) {
		return ""
	}
	return ck.Value
}

func validSession(v string) bool {
	if len(v) != 32 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil
}

// renewSession gives the browser a fresh session id and moves to it all that
// its old one had. Every join does this, so an id planted in a browser by
// someone else (session fixation) owns nothing once the browser joins.
func renewSession(c echo.Context, hub *chat.Hub) string {
	id := newSessionID()
	if old := session(c); old != "" {
		hub.Rebind(old, id)
	}
	c.SetCookie(&http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		Secure:   isHTTPS(c), // never on a spoofable header: see overHTTPS
		SameSite: http.SameSiteLaxMode,
	})
	return id
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
