package limits

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// A client is what the per-client limits count: one IPv4 address, or one
// IPv6 /64. A /64 is the smallest block a network hands a home or an
// office (RFC 4291's interface identifier is the low 64 bits), so one
// machine can take any address in its /64 at will, and counting the
// addresses one by one would give it 2^64 budgets.
const ipv6ClientBits = 64

// Key returns the client an address counts as: the address itself (as a
// /32) for IPv4, including IPv4 written in IPv6 (::ffff:a.b.c.d), and its
// /64 for IPv6. A zone is dropped: fe80::1%eth0 and fe80::1%eth1 are one
// client. The zero Addr (a peer whose address is unknown) gives the zero
// Prefix, which all such peers share.
func Key(addr netip.Addr) netip.Prefix {
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	p, _ := addr.Prefix(ipv6ClientBits) // cannot fail: a valid IPv6 address and 64 bits
	return p
}

var errBadAddr = errors.New("not an IP address")

// ParseAddr reads one client address as proxies write it in
// X-Forwarded-For and X-Real-IP: an IPv4 or IPv6 address, with or without
// brackets, a zone or a port ("1.2.3.4", "1.2.3.4:5678", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:443"), with spaces around it. The result
// has no zone and is never IPv4-mapped IPv6. Anything else ("unknown", an
// RFC 7239 obfuscated "_name", a host name) is an error.
func ParseAddr(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	var a netip.Addr
	var err error
	switch {
	case strings.HasPrefix(s, "["):
		if strings.HasSuffix(s, "]") {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
			if err == nil && a.Is4() {
				err = errBadAddr // brackets are for IPv6 only
			}
		} else {
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(s)
			a = ap.Addr()
		}
	case strings.Count(s, ":") == 1:
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("limits: client address %q: %w", s, errBadAddr)
	}
	return a.Unmap().WithZone(""), nil
}

// Proxies are the networks whose requests may say whom they are for, in
// X-Forwarded-For or X-Real-IP. A nil Proxies trusts nobody: every client
// is its peer address.
type Proxies []netip.Prefix

// ParseProxies reads a comma-separated list of CIDRs ("10.0.0.0/8,
// fd00::/8"); a bare address is a network of one. Blanks around items are
// ignored, and an empty string is nil.
func ParseProxies(s string) (Proxies, error) {
	var p Proxies
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(item)
		if err != nil {
			a, aerr := netip.ParseAddr(item)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR (10.0.0.0/8) or an address", item)
			}
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		p = append(p, unmapPrefix(prefix).Masked())
	}
	return p, nil
}

// unmapPrefix writes an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) as
// the IPv4 prefix it means: addresses are compared unmapped here.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// trusts reports whether a request from addr may say whom it is for.
func (p Proxies) trusts(addr netip.Addr) bool {
	for _, n := range p {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// Client returns the address a request counts as. From a peer that is not
// a trusted proxy, that is the peer, whatever its headers say. From a
// trusted proxy, it is the nearest address in X-Forwarded-For (all its
// values, read from the right, the way proxies append) that is not itself a
// trusted proxy: a client can put anything at the left of the list, but not
// to the right of what its first proxy appended. An entry that does not
// parse ends the walk at the last trusted hop before it. When every entry is
// a trusted proxy, the leftmost counts. Without X-Forwarded-For, a valid
// X-Real-IP counts; without either, the peer.
func (p Proxies) Client(peer netip.Addr, forwardedFor []string, realIP string) netip.Addr {
	peer = peer.Unmap().WithZone("")
	if !p.trusts(peer) {
		return peer
	}
	hop := peer
	if len(forwardedFor) > 0 {
		for i := len(forwardedFor) - 1; i >= 0; i-- {
			entries := strings.Split(forwardedFor[i], ",")
			for j := len(entries) - 1; j >= 0; j-- {
				a, err := ParseAddr(entries[j])
				if err != nil {
					return hop
				}
				if !p.trusts(a) {
					return a
				}
				hop = a
			}
		}
		return hop
	}
	if realIP != "" {
		if a, err := ParseAddr(realIP); err == nil {
			return a
		}
	}
	return peer
}
