package limits

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKey(t *testing.T) {
	tests := []struct {
		name string
		addr string
		want string // the prefix; "" for the zero Prefix
	}{
		{"IPv4", "192.0.2.7", "192.0.2.7/32"},
		{"IPv4 loopback", "127.0.0.1", "127.0.0.1/32"},
		{"IPv4 in IPv6", "::ffff:192.0.2.7", "192.0.2.7/32"},
		{"IPv6", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"IPv6, another host of the same /64", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"IPv6, the next /64", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"IPv6 loopback", "::1", "::/64"},
		{"IPv6 with a zone", "fe80::1%eth0", "fe80::/64"},
		{"unknown", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a netip.Addr
			if tt.addr != "" {
				a = netip.MustParseAddr(tt.addr)
			}
			var want netip.Prefix
			if tt.want != "" {
				want = netip.MustParsePrefix(tt.want)
			}
			if got := Key(a); got != want {
				t.Errorf("Key(%s) = %s, want %s", tt.addr, got, want)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when it is refused
	}{
		{"192.0.2.7", "192.0.2.7"},
		{" 192.0.2.7 ", "192.0.2.7"},
		{"192.0.2.7:5678", "192.0.2.7"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"fe80::1%eth0", "fe80::1"},
		{"[fe80::1%eth0]:80", "fe80::1"},
		{"", ""},
		{"unknown", ""},
		{"_hidden", ""},
		{"example.com", ""},
		{"example.com:80", ""},
		{"[192.0.2.7]", ""},
		{"192.0.2.7:", ""},
		{"192.0.2.7:99999", ""},
		{"192.0.2.256", ""},
		{"[2001:db8::1", ""},
		{"2001:db8::1]", ""},
		{"1.2.3.4/32", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddr(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Errorf("ParseAddr(%q) = %s, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != netip.MustParseAddr(tt.want) {
				t.Errorf("ParseAddr(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseProxies(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil when it is refused
	}{
		{"", []string{}},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}},
		{" 10.0.0.0/8 , fd00::/8 ,", []string{"10.0.0.0/8", "fd00::/8"}},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"192.0.2.1", []string{"192.0.2.1/32"}},
		{"2001:db8::1", []string{"2001:db8::1/128"}},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
		{"10.0.0.0/33", nil},
		{"proxy.internal", nil},
		{"fe80::1%eth0", nil},
		{"10.0.0.0/8;192.168.0.0/16", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseProxies(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Errorf("ParseProxies(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotS := []string{}
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if diff := cmp.Diff(tt.want, gotS); diff != "" {
				t.Errorf("ParseProxies(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestClient(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		proxies Proxies
		peer    string
		xff     []string
		realIP  string
		want    string
	}{
		{"no proxies trusted: the peer", nil, "198.51.100.9", []string{"203.0.113.5"}, "203.0.113.6", "198.51.100.9"},
		{"an untrusted peer's headers are ignored", proxies, "198.51.100.9", []string{"203.0.113.5"}, "203.0.113.6", "198.51.100.9"},
		{"a trusted proxy's X-Forwarded-For", proxies, "10.0.0.1", []string{"203.0.113.5"}, "", "203.0.113.5"},
		{"X-Forwarded-For wins over X-Real-IP", proxies, "10.0.0.1", []string{"203.0.113.5"}, "203.0.113.6", "203.0.113.5"},
		{"X-Real-IP without X-Forwarded-For", proxies, "10.0.0.1", nil, "203.0.113.6", "203.0.113.6"},
		{"a malformed X-Real-IP", proxies, "10.0.0.1", nil, "somewhere", "10.0.0.1"},
		{"no headers: the proxy itself", proxies, "10.0.0.1", nil, "", "10.0.0.1"},
		{"what the client wrote on the left is skipped", proxies, "10.0.0.1", []string{"1.1.1.1, 203.0.113.5"}, "", "203.0.113.5"},
		{"a chain of trusted proxies", proxies, "10.0.0.1", []string{"203.0.113.5, 10.0.0.3", "10.0.0.2"}, "", "203.0.113.5"},
		{"every hop trusted: the leftmost", proxies, "10.0.0.1", []string{"10.9.9.9, 10.0.0.2"}, "", "10.9.9.9"},
		{"garbage ends the walk at the last trusted hop", proxies, "10.0.0.1", []string{"203.0.113.5, garbage, 10.0.0.2"}, "", "10.0.0.2"},
		{"an empty entry too", proxies, "10.0.0.1", []string{"203.0.113.5,"}, "", "10.0.0.1"},
		{"IPv6 with a port", proxies, "fd00::1", []string{"[2001:db8:1:2::9]:4431"}, "", "2001:db8:1:2::9"},
		{"IPv4 in IPv6 peer", proxies, "::ffff:10.0.0.1", []string{"203.0.113.5"}, "", "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.proxies.Client(netip.MustParseAddr(tt.peer), tt.xff, tt.realIP)
			if want := netip.MustParseAddr(tt.want); got != want {
				t.Errorf("Client(%s, %q, %q) = %s, want %s", tt.peer, tt.xff, tt.realIP, got, want)
			}
		})
	}
}

// Any text parses to an address that keys as its own client, or is
// refused; and an address read back from its own text is itself.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.7", "[2001:db8::1]:443", "::ffff:1.2.3.4", "fe80::1%eth0", "unknown", " 1.2.3.4:80 ", "[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("ParseAddr(%q) = %#v", s, a)
		}
		k := Key(a)
		if !k.IsValid() || !k.Contains(a) || (k.Bits() != 32 && k.Bits() != 64) || k != k.Masked() {
			t.Fatalf("Key(%s) = %s", a, k)
		}
		if again := Key(k.Addr()); again != k {
			t.Fatalf("Key of %s's own network is %s", k, again)
		}
		if b, err := ParseAddr(a.String()); err != nil || b != a {
			t.Fatalf("ParseAddr(%q) = %s, %v; want %s", a.String(), b, err, a)
		}
	})
}

// Whatever the headers say, the client is the peer or an address they
// name, and only a trusted peer's headers count.
func FuzzClient(f *testing.F) {
	f.Add("10.0.0.1", "203.0.113.5, 10.0.0.2", "")
	f.Add("198.51.100.9", "203.0.113.5", "203.0.113.6")
	f.Add("fd00::1", "", "[2001:db8::1]")
	proxies, err := ParseProxies("10.0.0.0/8,fd00::/8")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, peer, xff, realIP string) {
		p, err := ParseAddr(peer)
		if err != nil {
			return
		}
		var forwarded []string
		if xff != "" {
			forwarded = []string{xff}
		}
		got := proxies.Client(p, forwarded, realIP)
		if !got.IsValid() {
			t.Fatalf("Client(%s, %q, %q) is not an address", p, xff, realIP)
		}
		if !proxies.trusts(p) && got != p {
			t.Fatalf("an untrusted peer %s counted as %s", p, got)
		}
	})
}
