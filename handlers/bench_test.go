package handlers

import (
	"fmt"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

// BenchmarkPostAndDeliver measures a message's whole path: an HTTP post,
// sealing, rendering, and delivery over SSE to every reader of the room.
// deliveries/s counts messages times readers.
func BenchmarkPostAndDeliver(b *testing.B) {
	for _, readers := range []int{1, 10, 100} {
		b.Run(fmt.Sprint(readers, "readers"), func(b *testing.B) {
			srv := newTestServer(b, chat.Config{History: 1000}, Config{})
			alice := srv.browser(b)
			me := alice.join("lobby", "alice")
			streams := make([]*stream, readers)
			for i := range streams {
				streams[i] = srv.browser(b).stream("/rooms/lobby/events", nil)
			}
			text := "a message of a typical length, some sixty characters or so."
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				alice.say("lobby", me, text)
			}
			for _, s := range streams {
				for range b.N {
					if _, err := s.nextErr(30 * time.Second); err != nil {
						b.Fatal(err)
					}
				}
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N*readers)/elapsed.Seconds(), "deliveries/s")
		})
	}
}
