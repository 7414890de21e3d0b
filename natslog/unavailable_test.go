package natslog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/natslog/natstest"
	"github.com/nats-io/nats.go"
)

func TestUnavailable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nats.ErrTimeout, true},
		{fmt.Errorf("publish: %w", context.DeadlineExceeded), true},
		{nats.ErrNoResponders, true},
		{nats.ErrConnectionClosed, true},
		{errors.New("nats: maximum payload exceeded"), false},
		{chat.ErrConflict, false},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			err := Unavailable(tt.err)
			if got := errors.Is(err, chat.ErrUnavailable); got != tt.want {
				t.Errorf("Is ErrUnavailable = %v, want %v", got, tt.want)
			}
			if !errors.Is(err, tt.err) || err.Error() != tt.err.Error() {
				t.Errorf("Unavailable(%v) = %v: lost the error", tt.err, err)
			}
		})
	}
	if Unavailable(nil) != nil {
		t.Error("Unavailable(nil) is not nil")
	}
}

// Without a connection, Append, Read and Bounds fail at once with
// chat.ErrUnavailable rather than wait out their timeout (an hour here)
// while nats.go tries to reconnect.
func TestUnreachableFailsAtOnce(t *testing.T) {
	srv := natstest.Start(t, t.TempDir(), -1)
	nc := natstest.Connect(t, srv)
	l, err := New(context.Background(), Config{Conn: nc, RoomToken: natstest.Token, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append("lobby", 0, chat.Record{ID: 1, Sealed: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	for nc.IsConnected() {
		time.Sleep(10 * time.Millisecond)
	}
	for name, call := range map[string]func() error{
		"Append": func() error {
			_, _, err := l.Append("lobby", 1, chat.Record{ID: 2, Sealed: []byte("y")})
			return err
		},
		"Read":   func() error { _, err := l.Read("lobby", 0, 0); return err },
		"Bounds": func() error { _, _, _, err := l.Bounds("lobby"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- call() }()
			select {
			case err := <-done:
				if !errors.Is(err, chat.ErrUnavailable) {
					t.Errorf("error %v, want one that is chat.ErrUnavailable", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("still waiting for NATS 30 s later (its timeout is an hour)")
			}
		})
	}
}
