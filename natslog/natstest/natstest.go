// Package natstest starts what tests of Cloakroom's NATS seams need: a
// nats-server with JetStream in the test's own process, connections to it,
// and a room token. Only tests import it, so the shipped binary does not
// hold a NATS server.
package natstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Start starts a nats-server with JetStream in this process, its store in
// dir, on port (-1 for a free one the kernel picks) of the loopback, and
// shuts it down when the test ends. Starting it again on the same dir and
// port is a restart: with memory storage, everything is gone.
func Start(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready after 10 s")
	}
	return s
}

// Connect returns a connection to s, closed when the test ends. It
// reconnects for ever, as a Cloakroom node's connection does.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Token is the tests' room token: an HMAC-SHA-256 of the name under a fixed
// key, 18 bytes of it in unpadded base64url (24 characters), as a node's is
// under its master key.
func Token(room string) string {
	m := hmac.New(sha256.New, []byte("natstest room token key"))
	m.Write([]byte(room))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}
