package natslog

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
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
