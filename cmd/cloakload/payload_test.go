package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rivo/uniseg"
)

// Every size the scenarios use gives a text of exactly that many bytes,
// within both of Cloakroom's limits, whose header reads back.
func TestMessageText(t *testing.T) {
	for _, tt := range []struct {
		name     string
		seq      uint64
		sched    time.Duration
		size     int
		wantLen  int
		wantFlag bool
	}{
		{"shorter than its header", 1, 0, 5, len("cl 1 0"), false},
		{"300 B", 7, 1500 * time.Microsecond, 300, 300, false},
		{"4 KB", 12345, 20 * time.Second, 4000, 4000, true},
		{"16 KB", 1 << 40, time.Hour, 16000, 16000, true},
		{"16 KiB, the limit", 3, 0, 16384, 16384, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text, err := messageText(tt.seq, tt.sched, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			if len(text) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(text), tt.wantLen)
			}
			if n := uniseg.GraphemeClusterCount(text); n > 4000 {
				t.Errorf("%d characters, over Cloakroom's 4000", n)
			}
			if got := strings.Contains(text, flagEmoji); got != tt.wantFlag {
				t.Errorf("uses flags = %v, want %v", got, tt.wantFlag)
			}
			seq, sched, ok := parseHeader([]byte(text))
			if !ok || seq != tt.seq || sched != tt.sched {
				t.Errorf("parseHeader = %d, %v, %v; want %d, %v, true", seq, sched, ok, tt.seq, tt.sched)
			}
		})
	}
}

func TestMessageTextTooLong(t *testing.T) {
	if _, err := messageText(1, 0, maxTextBytes+1); err == nil {
		t.Error("a text over 16 KiB was built")
	}
}

func TestParseHeader(t *testing.T) {
	for _, tt := range []struct {
		name      string
		in        string
		wantSeq   uint64
		wantSched time.Duration
		wantOK    bool
	}{
		{"header then filler", "cl 7 1500 xxx", 7, 1500 * time.Microsecond, true},
		{"header then JSON's closing quote", `cl 7 1500","time":"`, 7, 1500 * time.Microsecond, true},
		{"header alone", "cl 7 1500", 7, 1500 * time.Microsecond, true},
		{"no prefix", "hello 7 1500", 0, 0, false},
		{"prefix only", "cl ", 0, 0, false},
		{"no schedule", "cl 7", 0, 0, false},
		{"no space between", "cl 7x1500", 0, 0, false},
		{"letters for a number", "cl a 1500", 0, 0, false},
		{"sequence too long to fit", "cl 123456789012345678901 1", 0, 0, false},
		{"schedule too long to fit", "cl 1 99999999999999999999", 0, 0, false},
		{"schedule past the clock", "cl 1 9999999999999999999", 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seq, sched, ok := parseHeader([]byte(tt.in))
			if seq != tt.wantSeq || sched != tt.wantSched || ok != tt.wantOK {
				t.Errorf("parseHeader(%q) = %d, %v, %v; want %d, %v, %v", tt.in, seq, sched, ok, tt.wantSeq, tt.wantSched, tt.wantOK)
			}
		})
	}
}
