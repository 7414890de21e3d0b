package main

import (
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tt := range []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "4242 (cloakroom) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 7 0 123 456 789", 1750 * time.Millisecond, false},
		{"a name with spaces and parentheses", "7 (my (odd) name) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1", 70 * time.Millisecond, false},
		{"no name", "7 R 1 7", 0, true},
		{"cut short", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 3", 0, true},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 3 y 0", 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseField(t *testing.T) {
	const io = "rchar: 100\nwchar: 200\nsyscr: 30\nsyscw: 40\nread_bytes: 0\n"
	const status = "Name:\tcloakroom\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t7\n"
	for _, tt := range []struct {
		name, file, key string
		want            uint64
		wantErr         bool
	}{
		{"syscw", io, "syscw:", 40, false},
		{"VmRSS", status, "VmRSS:", 40960, false},
		{"VmHWM", status, "VmHWM:", 51200, false},
		{"missing", status, "VmSwap:", 0, true},
		{"empty value", "syscw:\n", "syscw:", 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseField([]byte(tt.file), tt.key)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("parseField(%s) = %d, %v; want %d, error %v", tt.key, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseMachineCPU(t *testing.T) {
	for _, tt := range []struct {
		name    string
		stat    string
		want    machineCPU
		wantErr bool
	}{
		{"two CPUs", "cpu  100 5 50 1000 7 3 2 4 0 0\ncpu0 50 5 25 500 3 1 1 2 0 0\n", machineCPU{busy: 1600 * time.Millisecond, steal: 40 * time.Millisecond}, false},
		{"no aggregate line first", "cpu0 50 5 25 500 3 1 1 2 0 0\n", machineCPU{}, true},
		{"cut short", "cpu  100 5 50 1000\n", machineCPU{}, true},
		{"not a number", "cpu  100 5 x 1000 7 3 2 4 0 0\n", machineCPU{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMachineCPU([]byte(tt.stat))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("parseMachineCPU = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
