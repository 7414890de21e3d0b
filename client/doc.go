// Package client is Cloakroom's command line client: `tail` follows a room's
// event stream and `say` posts to a room as a bot member. It talks to a
// server only over HTTP, as any other client would, so it imports nothing of
// the server's packages.
package client
