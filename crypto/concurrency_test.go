package crypto

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentSealOpen seals and opens from many goroutines over a few
// rooms while another goroutine keeps forgetting those rooms, so cache
// misses, pooled MACs and Forget all race. Run with -race.
func TestConcurrentSealOpen(t *testing.T) {
	b := newTestBox(t)
	rooms := []string{"north", "south", "east", "west"}
	const workers, rounds = 16, 200

	stop := make(chan struct{})
	forgetDone := make(chan struct{})
	go func() {
		defer close(forgetDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				b.Forget(rooms[i%len(rooms)])
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				room := rooms[(w+i)%len(rooms)]
				msg := []byte(fmt.Sprintf("worker %d message %d", w, i))
				ad := []byte(fmt.Sprintf("%s/%d/%d", room, w, i))
				record, err := b.Seal(room, msg, ad)
				if err != nil {
					t.Errorf("worker %d: Seal: %v", w, err)
					return
				}
				got, err := b.Open(room, record, ad)
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("worker %d: Open = %q, %v", w, got, err)
					return
				}
				other := rooms[(w+i+1)%len(rooms)]
				if _, err := b.Open(other, record, ad); err != ErrOpen {
					t.Errorf("worker %d: opened in room %s: %v", w, other, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-forgetDone
}
