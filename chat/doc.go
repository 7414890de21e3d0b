// Package chat is Cloakroom's domain: rooms, their members and presence, and
// each room's history of events, kept only as sealed records.
//
// A Hub owns every room. Each event of a room (a message, a join, a leave, a
// change of presence) takes the room's next id and is sealed with the room's
// key before it is stored; plaintext exists only while an event is handed to
// the publish function or read back for a page. The package knows nothing of
// HTTP: callers identify a browser by an opaque owner string (the session
// cookie's value, in the web server), or a bot by the SHA-256 of its bearer
// secret (JoinBearer, Bearer), and receive events through the function given
// to NewHub.
package chat
