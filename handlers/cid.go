package handlers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cloakroom/cloakroom/chat"
)

// A post may carry the client's own id for its message, so that the client
// can send it again after a failure (a lost answer, a 5xx) without it
// appearing twice: the form field cid, or the header Idempotency-Key
// (draft-ietf-httpapi-idempotency-key-header), which the draft writes as a
// quoted string ("...") and many clients send bare; both are read. A repeat
// gets the answer the first post got.
const idempotencyKey = "Idempotency-Key"

var (
	errClientID = fmt.Errorf("the message id (form field cid, or header %s) must be 1 to %d characters of visible ASCII (! to ~), with no spaces",
		idempotencyKey, chat.MaxClientID)
	errClientIDs = fmt.Errorf("the message id is given more than once (cid, %s) with different values; send it once", idempotencyKey)
)

// clientID reads a post's message id from its cid form values and its
// Idempotency-Key header values: "" when there are none; errClientID when
// one is malformed, errClientIDs when they differ.
func clientID(fields, headers []string) (string, error) {
	cid := ""
	take := func(v string) error {
		v, err := chat.ClientID(v)
		switch {
		case err != nil:
			return errClientID
		case cid != "" && v != cid:
			return errClientIDs
		}
		cid = v
		return nil
	}
	for _, v := range fields {
		if err := take(v); err != nil {
			return "", err
		}
	}
	for _, v := range headers {
		if strings.HasPrefix(v, `"`) {
			var ok bool
			if v, ok = unquote(v); !ok {
				return "", errClientID
			}
		}
		if err := take(v); err != nil {
			return "", err
		}
	}
	return cid, nil
}

// unquote reads a Structured Fields string (RFC 8941 §3.3.3): printable
// ASCII between double quotes, in which \" and \\ stand for " and \. It
// must be the whole value: parameters are not for this header.
func unquote(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i == len(v)-1 || v[i] != '"' && v[i] != '\\' {
				return "", false
			}
			b.WriteByte(v[i])
		case c == '"' || c < ' ' || c > '~':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// isClientIDError reports whether err is about a post's message id.
func isClientIDError(err error) bool {
	return errors.Is(err, errClientID) || errors.Is(err, errClientIDs) ||
		errors.Is(err, chat.ErrInvalidClientID) || errors.Is(err, chat.ErrClientIDReused)
}
