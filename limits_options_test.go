package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/limits"
)

// The per-client limits come from flags or the environment, have their
// defaults, turn off at 0, and refuse what is not a limit at start-up.
func TestParseLimitOptions(t *testing.T) {
	defaults := limits.Config{
		Streams: 100, JoinsPerMinute: 30,
		MemberPosts: limits.Rate{PerSecond: 1, Burst: 10},
		ClientPosts: limits.Rate{PerSecond: 5, Burst: 20},
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		limits  limits.Config
		proxies []string
		err     string
	}{
		{"defaults", nil, nil, defaults, nil, ""},
		{"every limit off", limitsOff, nil, limits.Config{
			MemberPosts: limits.Rate{Burst: 10}, ClientPosts: limits.Rate{Burst: 20},
		}, nil, ""},
		{"flags", []string{"--client-streams", "7", "--client-joins", "3", "--member-post-rate", "0.5", "--member-post-burst", "4",
			"--client-post-rate", "2", "--client-post-burst", "8", "--trusted-proxies", "10.0.0.0/8, fd00::/8"}, nil,
			limits.Config{Streams: 7, JoinsPerMinute: 3, MemberPosts: limits.Rate{PerSecond: 0.5, Burst: 4}, ClientPosts: limits.Rate{PerSecond: 2, Burst: 8}},
			[]string{"10.0.0.0/8", "fd00::/8"}, ""},
		{"environment", nil, map[string]string{"CLOAKROOM_CLIENT_STREAMS": "0", "CLOAKROOM_TRUSTED_PROXIES": "192.0.2.1"},
			func() limits.Config { c := defaults; c.Streams = 0; return c }(), []string{"192.0.2.1/32"}, ""},
		{"a negative limit", []string{"--client-joins", "-1"}, nil, limits.Config{}, nil, "0 (off) or positive"},
		{"a rate that is not a number", nil, map[string]string{"CLOAKROOM_MEMBER_POST_RATE": "NaN"}, limits.Config{}, nil, "0 (off) or positive"},
		{"an infinite rate", []string{"--client-post-rate", "+Inf"}, nil, limits.Config{}, nil, "0 (off) or positive"},
		{"a proxy that is not a network", []string{"--trusted-proxies", "proxy.internal"}, nil, limits.Config{}, nil, `trusted proxy "proxy.internal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.limits, o.limits); diff != "" {
				t.Errorf("limits (-want +got):\n%s", diff)
			}
			var want limits.Proxies
			for _, p := range tt.proxies {
				want = append(want, netip.MustParsePrefix(p))
			}
			if diff := cmp.Diff(want, o.trustedProxies, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("trusted proxies (-want +got):\n%s", diff)
			}
		})
	}
}
