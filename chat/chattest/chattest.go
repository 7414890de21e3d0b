// Package chattest checks implementations of chat.Log against the contract
// the chat.Hub relies on, the way testing/slogtest checks slog handlers:
// every Log, in memory or over a network, runs the same TestLog.
package chattest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/crypto"
)

// NewLog returns an empty Log that keeps the newest keep records of each
// room. TestLog calls it once per subtest.
type NewLog func(t *testing.T, keep int) chat.Log

// TestLog runs the contract of chat.Log against the logs newLog makes:
// consecutive ids and compare-and-set appends, gap-free reads from any id,
// retention and what a reader outside it sees, client message ids,
// concurrent appenders, records sealed for their place by a Hub, and live
// subscriptions (Watch) that resume without gaps and reset outside
// retention.
func TestLog(t *testing.T, newLog NewLog) {
	t.Run("consecutive ids", func(t *testing.T) { testConsecutive(t, newLog(t, 100)) })
	t.Run("gap-free reads", func(t *testing.T) { testReads(t, newLog(t, 100)) })
	t.Run("retention", func(t *testing.T) { testRetention(t, newLog(t, 5)) })
	t.Run("client message ids", func(t *testing.T) { testClientIDs(t, newLog(t, 3)) })
	t.Run("concurrent appenders", func(t *testing.T) { testConcurrent(t, newLog(t, 1000)) })
	t.Run("sealed for their place", func(t *testing.T) { testSealed(t, newLog(t, 100)) })
	t.Run("live subscription", func(t *testing.T) { testWatch(t, newLog(t, 1000)) })
	t.Run("subscription outside retention", func(t *testing.T) { testWatchTruncated(t, newLog(t, 5)) })
	t.Run("a drop keeps the next life", func(t *testing.T) { testDropThrough(t, newLog(t, 100)) })
}

// testDropThrough drops a room's life through its newest id after its next
// life began (another server began it between the end and the drop): the
// next life's records, and their client ids, stay.
func testDropThrough(t *testing.T, l chat.Log) {
	for id := uint64(1); id <= 3; id++ {
		mustAppend(t, l, "k", id-1, rec(id, "ended life"))
	}
	next := rec(4, "next life")
	next.CID = "c1"
	mustAppend(t, l, "k", 3, next)
	mustAppend(t, l, "k", 4, rec(5, "next life"))
	if err := l.Drop("k", 3); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, l, "k", 0, 0); !slices.Equal(got, []uint64{4, 5}) {
		t.Errorf("Read after the drop through 3 = %v, want [4 5]", got)
	}
	if got := bounds(t, l, "k"); got != "4…5" {
		t.Errorf("bounds after the drop through 3: %s, want 4…5", got)
	}
	again := rec(6, "sent again")
	again.CID = "c1"
	if got, ok, err := l.Append("k", 5, again); err != nil || ok || got.ID != 4 {
		t.Errorf("Append of c1 again = id %d, %v, %v; want id 4, not appended", got.ID, ok, err)
	}
	// Dropping through an id below what is kept forgets nothing.
	if err := l.Drop("k", 2); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, l, "k", 0, 0); !slices.Equal(got, []uint64{4, 5}) {
		t.Errorf("Read after a drop through 2 = %v, want [4 5]", got)
	}
}

func rec(id uint64, text string) chat.Record {
	return chat.Record{ID: id, Member: 7, Sealed: []byte(text)}
}

func mustAppend(t *testing.T, l chat.Log, room string, expect uint64, r chat.Record) {
	t.Helper()
	if _, ok, err := l.Append(room, expect, r); err != nil || !ok {
		t.Fatalf("Append(%s, %d, id %d) = %v, %v; want appended", room, expect, r.ID, ok, err)
	}
}

func ids(t *testing.T, l chat.Log, room string, after uint64, limit int) []uint64 {
	t.Helper()
	recs, err := l.Read(room, after, limit)
	if err != nil {
		t.Fatalf("Read(%s, %d, %d): %v", room, after, limit, err)
	}
	out := []uint64{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func span(from, to uint64) []uint64 {
	out := []uint64{}
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

func bounds(t *testing.T, l chat.Log, room string) string {
	t.Helper()
	oldest, newest, ok, err := l.Bounds(room)
	if err != nil {
		t.Fatalf("Bounds(%s): %v", room, err)
	}
	if !ok {
		return "none"
	}
	return fmt.Sprintf("%d…%d", oldest, newest)
}

func testConsecutive(t *testing.T, l chat.Log) {
	if got := bounds(t, l, "a"); got != "none" {
		t.Fatalf("a new log's room has records %s", got)
	}
	mustAppend(t, l, "a", 99, rec(100, "first")) // the caller picks the first id
	mustAppend(t, l, "a", 100, rec(101, "second"))
	if _, _, err := l.Append("a", 100, rec(101, "late")); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("an append after a stale id = %v, want chat.ErrConflict", err)
	}
	if _, _, err := l.Append("a", 101, rec(103, "skips")); !errors.Is(err, chat.ErrNotNext) {
		t.Errorf("an append that skips an id = %v, want chat.ErrNotNext", err)
	}
	if got := bounds(t, l, "a"); got != "100…101" {
		t.Errorf("bounds = %s, want 100…101", got)
	}
	recs, err := l.Read("a", 0, 0)
	if err != nil || len(recs) != 2 || string(recs[0].Sealed) != "first" || string(recs[1].Sealed) != "second" || recs[1].Member != 7 {
		t.Errorf("Read = %+v, %v; want the two records as appended", recs, err)
	}
	// Rooms are separate sequences.
	if got := bounds(t, l, "b"); got != "none" {
		t.Errorf("another room has records %s", got)
	}
	mustAppend(t, l, "b", 4, rec(5, "elsewhere"))
	if got := bounds(t, l, "a"); got != "100…101" {
		t.Errorf("an append to b moved a to %s", got)
	}
}

func testReads(t *testing.T, l chat.Log) {
	for id := uint64(1); id <= 20; id++ {
		mustAppend(t, l, "r", id-1, rec(id, fmt.Sprint("m", id)))
	}
	for after := uint64(0); after <= 21; after++ {
		want := span(max(after+1, 1), 20)
		if got := ids(t, l, "r", after, 0); !slices.Equal(got, want) {
			t.Errorf("Read after %d = %v, want %v", after, got, want)
		}
	}
	// Paging with a limit meets every record once.
	var got []uint64
	for after := uint64(0); ; {
		page := ids(t, l, "r", after, 7)
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(got, span(1, 20)) {
		t.Errorf("pages of 7 = %v, want 1…20 once each", got)
	}
	if got := ids(t, l, "nobody", 0, 0); len(got) != 0 {
		t.Errorf("a room with no records reads %v", got)
	}
}

func testRetention(t *testing.T, l chat.Log) {
	for id := uint64(1); id <= 12; id++ {
		mustAppend(t, l, "k", id-1, rec(id, "x"))
	}
	if got := bounds(t, l, "k"); got != "8…12" {
		t.Fatalf("bounds after 12 appends keeping 5 = %s, want 8…12", got)
	}
	// A reader whose place was dropped gets what is kept, from the oldest:
	// it sees from Bounds that it was reset.
	for _, after := range []uint64{0, 3, 7} {
		if got := ids(t, l, "k", after, 0); !slices.Equal(got, span(8, 12)) {
			t.Errorf("Read after %d = %v, want 8…12", after, got)
		}
	}
	if got := ids(t, l, "k", 9, 0); !slices.Equal(got, span(10, 12)) {
		t.Errorf("Read after 9 = %v, want 10…12", got)
	}
	if err := l.Drop("k", 12); err != nil {
		t.Fatal(err)
	}
	if got := bounds(t, l, "k"); got != "none" {
		t.Errorf("a dropped room keeps %s", got)
	}
	mustAppend(t, l, "k", 99, rec(100, "made again"))
	if got := bounds(t, l, "k"); got != "100…100" {
		t.Errorf("a room made again has %s, want 100…100", got)
	}
}

func testClientIDs(t *testing.T, l chat.Log) {
	first := chat.Record{ID: 1, Member: 7, CID: "c1", Sealed: []byte("original")}
	mustAppend(t, l, "d", 0, first)
	again := chat.Record{ID: 2, Member: 7, CID: "c1", Sealed: []byte("retry")}
	got, appended, err := l.Append("d", 1, again)
	if err != nil || appended || got.ID != 1 || string(got.Sealed) != "original" {
		t.Fatalf("a repeated client id = %+v, %v, %v; want the original record, not appended", got, appended, err)
	}
	if b := bounds(t, l, "d"); b != "1…1" {
		t.Fatalf("a repeated client id appended: bounds %s", b)
	}
	// The same client id in another room is another message.
	mustAppend(t, l, "e", 0, chat.Record{ID: 1, Member: 7, CID: "c1", Sealed: []byte("e")})
	// Once retention has dropped the original, the id is new again.
	for id := uint64(2); id <= 4; id++ {
		mustAppend(t, l, "d", id-1, rec(id, "x"))
	}
	if b := bounds(t, l, "d"); b != "2…4" {
		t.Fatalf("bounds = %s, want 2…4", b)
	}
	mustAppend(t, l, "d", 4, chat.Record{ID: 5, Member: 7, CID: "c1", Sealed: []byte("new again")})
}

func testConcurrent(t *testing.T, l chat.Log) {
	const writers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := chat.Record{Member: uint64(w), CID: fmt.Sprintf("w%d-%d", w, i), Sealed: []byte("x")}
				for {
					_, newest, ok, err := l.Bounds("c")
					if err != nil {
						errs <- err
						return
					}
					if !ok {
						newest = 999
					}
					r.ID = newest + 1
					_, _, err = l.Append("c", newest, r)
					if err == nil {
						break
					}
					if !errors.Is(err, chat.ErrConflict) {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs, err := l.Read("c", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, r := range recs {
		if r.ID != 1000+uint64(i) {
			t.Fatalf("record %d has id %d, want %d: ids are not consecutive", i, r.ID, 1000+i)
		}
		if seen[r.CID] {
			t.Fatalf("%s stored twice", r.CID)
		}
		seen[r.CID] = true
	}
	if len(recs) != writers*each {
		t.Fatalf("%d records, want %d", len(recs), writers*each)
	}
}

// testSealed runs a Hub on the log: what the log keeps is sealed, a record
// copied to another place does not open, and a Hub whose idea of the
// newest id is stale (another server appended) catches up and appends
// after it.
func testSealed(t *testing.T, l chat.Log) {
	key, err := crypto.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	h := chat.NewHub(box, chat.Config{Log: l}, func(chat.Delivery) {}, nil)
	m, err := h.Join("browser", "lobby", "alice")
	if err != nil {
		t.Fatal(err)
	}
	secret := "the eagle lands at noon"
	posted, err := h.Post("browser", "lobby", m.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := l.Read("lobby", 0, 0)
	if err != nil || len(recs) != 2 || recs[1].ID != posted.ID || recs[1].Member != m.ID {
		t.Fatalf("the log holds %+v (%v); want the join and the message %d", recs, err, posted.ID)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Sealed), secret) || strings.Contains(string(r.Sealed), "alice") {
			t.Fatalf("record %d holds plaintext", r.ID)
		}
	}
	// Another writer appends a copy of the message at the next place: it
	// must not open there.
	copied := recs[1]
	copied.ID++
	mustAppend(t, l, "lobby", posted.ID, copied)
	b, err := h.Backlog("lobby", posted.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range b.Events() {
		if !errors.Is(err, crypto.ErrOpen) {
			t.Fatalf("opening a record copied to another place = %v, want crypto.ErrOpen", err)
		}
	}
	// The hub did not write that record; its next post goes after it.
	next, err := h.Post("browser", "lobby", m.ID, "after the other writer", "")
	if err != nil || next.ID != copied.ID+1 {
		t.Fatalf("post after another writer = id %d, %v; want %d", next.ID, err, copied.ID+1)
	}
}

// watch runs l.Watch in a goroutine, sending each record's id to the
// returned channel; stop ends it and returns Watch's error.
func watch(l chat.Log, room string, after uint64) (<-chan uint64, func() error) {
	ids, done, cancel := watchUntil(l, room, after)
	return ids, func() error {
		cancel()
		return <-done
	}
}

// watchUntil is watch, for a Watch expected to end on its own: done gets
// its error.
func watchUntil(l chat.Log, room string, after uint64) (<-chan uint64, <-chan error, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan uint64, 10000)
	done := make(chan error, 1)
	go func() {
		done <- l.Watch(ctx, room, after, func(r chat.Record) error {
			out <- r.ID
			return nil
		})
	}()
	return out, done, cancel
}

func collect(t *testing.T, ids <-chan uint64, n int) []uint64 {
	t.Helper()
	out := []uint64{}
	for range n {
		select {
		case id := <-ids:
			out = append(out, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("Watch delivered %v, then nothing for 10 s", out)
		}
	}
	return out
}

func testWatch(t *testing.T, l chat.Log) {
	// A watcher of a room with no records yet sees its first record on.
	all, stopAll := watch(l, "w", 0)
	for id := uint64(1000); id < 1010; id++ {
		mustAppend(t, l, "w", id-1, rec(id, "x"))
	}
	// One that starts in the middle gets what follows, kept then live.
	mid, stopMid := watch(l, "w", 1004)
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				for {
					_, newest, _, err := l.Bounds("w")
					if err != nil {
						t.Error(err)
						return
					}
					r := chat.Record{ID: newest + 1, Member: uint64(w), CID: fmt.Sprintf("w%d-%d", w, i), Sealed: []byte("x")}
					if _, _, err = l.Append("w", newest, r); err == nil {
						break
					} else if !errors.Is(err, chat.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if got := collect(t, all, 10+writers*each); !slices.Equal(got, span(1000, 1009+writers*each)) {
		t.Errorf("watching from the start: %v", got)
	}
	if got := collect(t, mid, 5+writers*each); !slices.Equal(got, span(1005, 1009+writers*each)) {
		t.Errorf("watching after 1004: %v", got)
	}
	for _, stop := range []func() error{stopAll, stopMid} {
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Watch after its context ended: %v", err)
		}
	}

	// fn's error ends Watch and is returned.
	stopErr := errors.New("enough")
	n := 0
	err := l.Watch(context.Background(), "w", 0, func(chat.Record) error {
		if n++; n == 3 {
			return stopErr
		}
		return nil
	})
	if !errors.Is(err, stopErr) || n != 3 {
		t.Errorf("Watch whose fn failed at the third record: %v after %d", err, n)
	}
}

func testWatchTruncated(t *testing.T, l chat.Log) {
	for id := uint64(1); id <= 12; id++ {
		mustAppend(t, l, "k", id-1, rec(id, "x"))
	}
	// Kept: 8…12. From 7 on nothing is missing; before that, or past the
	// newest, the watcher must reset.
	for _, after := range []uint64{2, 6, 13, 50} {
		if err := l.Watch(context.Background(), "k", after, func(chat.Record) error { return nil }); !errors.Is(err, chat.ErrTruncated) {
			t.Errorf("Watch after %d with 8…12 kept: %v, want ErrTruncated", after, err)
		}
	}
	ids, done, cancel := watchUntil(l, "k", 7)
	defer cancel()
	if got := collect(t, ids, 5); !slices.Equal(got, span(8, 12)) {
		t.Errorf("Watch after 7: %v", got)
	}
	// The room is dropped and made again with higher ids: a watcher of its
	// former life must reset, not skip to the new ids.
	if err := l.Drop("k", 12); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, "k", 99, rec(100, "made again"))
	select {
	case err := <-done:
		if !errors.Is(err, chat.ErrTruncated) {
			t.Errorf("Watch across the room's drop and re-creation: %v, want ErrTruncated", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Watch across the room's drop and re-creation did not return")
	}
}
