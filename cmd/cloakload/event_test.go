package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMessageOf(t *testing.T) {
	const cloak = `data: {"id":1796064271268285,"type":"message","room":"load-0","member":{"id":1,"name":"load"},"text":"cl 3 2500 xx","time":"2026-11-30T18:44:31.783428575Z"}` + "\n"
	const centri = `data: {"channel":"load-0","pub":{"data":{"id":3,"type":"message","room":"load-0","member":{"id":1,"name":"load"},"text":"cl 3 2500 xx","time":"2026-11-30T18:44:31Z"}}}` + "\n"
	for _, tt := range []struct {
		name      string
		line      string
		wantSeq   uint64
		wantSched time.Duration
		wantOK    bool
	}{
		{"Cloakroom message", cloak, 3, 2500 * time.Microsecond, true},
		{"Centrifugo publication", centri, 3, 2500 * time.Microsecond, true},
		{"fields in another order", `data:{"text":"cl 9 10","type":"message"}`, 9, 10 * time.Microsecond, true},
		{"id line", "id: 1796064271268285\n", 0, 0, false},
		{"event line", "event: members\n", 0, 0, false},
		{"keepalive comment", ": keepalive\n", 0, 0, false},
		{"blank line", "\n", 0, 0, false},
		{"presence", `data: {"id":5,"type":"presence","room":"load-0","members":[{"id":1,"name":"load","state":"away"}],"seq":2}` + "\n", 0, 0, false},
		{"join", `data: {"id":5,"type":"join","room":"load-0","member":{"id":1,"name":"load"},"time":"2026-11-30T18:44:31Z"}` + "\n", 0, 0, false},
		{"Centrifugo connect push", `data: {"connect":{"client":"77","version":"0.0.0 OSS","subs":{"load-0":{}},"ping":25}}` + "\n", 0, 0, false},
		{"Centrifugo ping", "data: {}\n", 0, 0, false},
		{"someone else's message", `data: {"type":"message","text":"hello"}` + "\n", 0, 0, false},
		// A quote in a string is escaped, so no name or text can pose as a
		// key: the real text decides.
		{"name that poses as a message", `data: {"type":"join","member":{"name":"\"type\":\"message\",\"text\":\"cl 1 1"}}`, 0, 0, false},
		{"text that poses as a header", `data: {"type":"message","text":"hi \"text\":\"cl 1 1"}`, 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seq, sched, ok := messageOf([]byte(tt.line))
			if seq != tt.wantSeq || sched != tt.wantSched || ok != tt.wantOK {
				t.Errorf("messageOf = %d, %v, %v; want %d, %v, %v", seq, sched, ok, tt.wantSeq, tt.wantSched, tt.wantOK)
			}
		})
	}
}

// What the Centrifugo publisher sends reads back through messageOf.
func TestPublicationReadsBack(t *testing.T) {
	text, err := messageText(42, 3*time.Second, 16000)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(publication{ID: 42, Type: "message", Room: "load-0", Member: member{1, "load"}, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	line := `data: {"channel":"load-0","pub":{"data":` + string(data) + "}}\n"
	seq, sched, ok := messageOf([]byte(line))
	if !ok || seq != 42 || sched != 3*time.Second {
		t.Errorf("messageOf = %d, %v, %v; want 42, 3s, true", seq, sched, ok)
	}
}
