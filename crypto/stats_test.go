package crypto

import "testing"

// Every failed Open counts once, whatever failed; records that open and
// records sealed count nothing.
func TestStatsCountOpenFailures(t *testing.T) {
	b := newTestBox(t)
	record := seal(t, b, "r", []byte("hello"), []byte("ad"))
	for _, tc := range []struct {
		name   string
		room   string
		record []byte
		ad     string
		fails  uint64 // OpenFailures after this row and those before it
	}{
		{"opens", "r", record, "ad", 0},
		{"other associated data", "r", record, "da", 1},
		{"other room", "s", record, "ad", 2},
		{"too short", "r", record[:10], "ad", 3},
		{"opens again", "r", record, "ad", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _ = b.Open(tc.room, tc.record, []byte(tc.ad))
			// Not go-cmp: crypto's tests, like crypto, need nothing outside
			// the standard library.
			if got, want := b.Stats(), (Stats{OpenFailures: tc.fails}); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}
