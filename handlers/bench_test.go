package handlers

import (
	"fmt"
	"net/http"
	"runtime"
	"strconv"
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

// BenchmarkIdleStreamMemory measures what one open, idle stream costs the
// server: heap and goroutine stacks, per stream, with 1000 of them open.
func BenchmarkIdleStreamMemory(b *testing.B) {
	const n = 1000
	for range b.N {
		t := &testing.T{}
		srv := newTestServer(t, chat.Config{}, Config{})
		client := srv.browser(t)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		goBefore := runtime.NumGoroutine()

		resps := make([]*http.Response, n)
		for i := range resps {
			resp, err := client.client.Get(srv.URL + "/rooms/room" + strconv.Itoa(i%10) + "/events")
			if err != nil {
				b.Fatal(err)
			}
			resps[i] = resp
		}
		for srv.hub.Readers("room0")+srv.hub.Readers("room9") < 2*n/10 {
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		// The client's side of each connection lives in this process too;
		// its cost is measured alone below and taken off.
		b.ReportMetric(float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse)/n, "B/stream(both-sides)")
		b.ReportMetric(float64(runtime.NumGoroutine()-goBefore)/n, "goroutines/stream(both-sides)")
		for _, r := range resps {
			r.Body.Close()
		}
		srv.Close()
	}
}
