package natslog

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startServer starts a nats-server with JetStream in this process, its
// store in dir, on port (-1 for a random one) of the loopback, and shuts
// it down when the test ends.
func startServer(t testing.TB, dir string, port int) *server.Server {
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

// connect returns a connection to s, closed when the test ends. It
// reconnects for ever, as a server's connection would.
func connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// testToken is the tests' RoomToken: an HMAC of the name under a fixed
// key, as main will use one under the master key.
func testToken(room string) string {
	m := hmac.New(sha256.New, []byte("natslog test key"))
	m.Write([]byte(room))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// newLog returns a Log on nc, keeping keep records per room, with a
// WatchCheck short enough for tests.
func newLog(t testing.TB, nc *nats.Conn, keep int, storage Storage) *Log {
	t.Helper()
	l, err := New(context.Background(), Config{
		Conn:       nc,
		History:    keep,
		Storage:    storage,
		RoomToken:  testToken,
		WatchCheck: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// server starts a server and returns a Log on a connection to it.
func serverLog(t testing.TB, keep int, storage Storage) chat.Log {
	t.Helper()
	s := startServer(t, t.TempDir(), -1)
	return newLog(t, connect(t, s), keep, storage)
}
