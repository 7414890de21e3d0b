package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
)

// A shared store's passing trouble is a 503 in plain words, whatever the
// store's own error says; everything else keeps its status.
func TestBusyIs503(t *testing.T) {
	storeErr := errors.New("natslog: append: nats: timeout")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"log busy", fmt.Errorf("append event: %w", chat.ErrLogBusy), http.StatusServiceUnavailable},
		{"state busy", fmt.Errorf("join: %w", chat.ErrStateBusy), http.StatusServiceUnavailable},
		{"unreachable", fmt.Errorf("append event: %w", errors.Join(storeErr, chat.ErrUnavailable)), http.StatusServiceUnavailable},
		{"another store error", fmt.Errorf("append event: %w", storeErr), http.StatusInternalServerError},
		{"a name taken", chat.ErrNameTaken, http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statusOf(tt.err)
			if got != tt.want {
				t.Fatalf("statusOf = %d, want %d", got, tt.want)
			}
			if msg := userMessage(tt.err, got); got == http.StatusServiceUnavailable && msg != "The server could not store this just now; try again in a moment." {
				t.Errorf("message %q", msg)
			}
		})
	}
}
