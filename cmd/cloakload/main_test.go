package main

import (
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A scenario gives the defaults; a flag given overrides them, even with 0.
func TestParseFlags(t *testing.T) {
	base := func(c config) config {
		c.target, c.url, c.voidPct = "cloakroom", "http://127.0.0.1:5000", 70
		c.postURLs, c.readURLs, c.counterPrefix = []string{c.url}, []string{c.url}, "cloakroom_nats_"
		c.warmup, c.drain = defaultWarmup, defaultDrain
		if c.duration == 0 {
			c.duration = defaultDuration
		}
		return c
	}
	for _, tt := range []struct {
		name string
		args []string
		want config
	}{
		{"fan-out preset", []string{"-scenario", "fanout200"},
			base(config{scenario: "fanout200", kind: kindStreams, rooms: 1, readers: 1000, rate: 200, size: 300})},
		{"overrides", []string{"-scenario", "big-frozen", "-readers", "50", "-rcvbuf", "0", "-duration", "5s", "-json"},
			base(config{scenario: "big-frozen", kind: kindStreams, rooms: 1, readers: 50, frozen: 1, rate: 100, size: 16000, duration: 5 * time.Second, json: true})},
		{"stuck waits longer", []string{"-scenario", "stuck-4k", "-server-pid", "42"},
			base(config{scenario: "stuck-4k", kind: kindStuck, rooms: 1, readers: 1, frozen: 1, rcvbuf: 4096, rate: 20, size: 4000, duration: defaultStuckMax, serverPID: 42})},
		{"idle settles", []string{"-scenario", "idle5k", "-settle", "1s"},
			base(config{scenario: "idle5k", kind: kindIdle, rooms: 10, readers: 5000, settle: time.Second})},
		{"Centrifugo", []string{"-target", "centrifugo", "-url", "http://127.0.0.1:8000", "-api-key", "k", "-scenario", "posts"},
			config{target: "centrifugo", url: "http://127.0.0.1:8000", postURLs: []string{"http://127.0.0.1:8000"}, readURLs: []string{"http://127.0.0.1:8000"},
				counterPrefix: "cloakroom_nats_", apiKey: "k", scenario: "posts", kind: kindPosts, rooms: 1, conns: 32, size: 300,
				warmup: defaultWarmup, duration: defaultDuration, drain: defaultDrain, voidPct: 70}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := parseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmp.AllowUnexported(config{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFlagsRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"unknown scenario", []string{"-scenario", "nope"}},
		{"unknown target", []string{"-target", "nats"}},
		{"Centrifugo without a key", []string{"-target", "centrifugo", "-scenario", "big"}},
		{"negative count", []string{"-readers", "-3"}},
		{"too big a message", []string{"-size", "20000"}},
		{"a stray argument", []string{"fanout100"}},
		{"stuck without a frozen reader", []string{"-scenario", "stuck-300", "-frozen", "0"}},
		{"memory without a process", []string{"-scenario", "memory"}},
		{"resume on Centrifugo", []string{"-target", "centrifugo", "-api-key", "k", "-scenario", "resume"}},
		{"Centrifugo on several nodes", []string{"-target", "centrifugo", "-api-key", "k", "-post-urls", "http://a,http://b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := parseFlags(tt.args, io.Discard); err == nil {
				t.Error("accepted")
			}
		})
	}
}
