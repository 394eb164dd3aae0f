package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Policy says which addresses deliveries may connect to. The zero Policy is the production one:
// only public unicast addresses.
type Policy struct {
	// AllowLoopback admits 127.0.0.0/8 and ::1 (and their IPv4-embedded IPv6 forms), so that agents
	// running on the same machine receive webhooks. Dev mode sets it.
	AllowLoopback bool
	// AllowHosts lists exceptions: host names (matched exactly, ignoring case, whatever they resolve
	// to), IP addresses and CIDR prefixes (matched against the address connected to).
	AllowHosts []string
}

// ErrAddressNotAllowed is the error of a connection the policy refused: the address is loopback,
// private, link-local, shared (CGNAT), multicast, reserved or unspecified, directly or embedded
// in IPv6.
var ErrAddressNotAllowed = errors.New("webhook: destination address not allowed")

// maxResponseRead caps how much of a receiver's answer is read; the rest is dropped unread.
const maxResponseRead = 4 << 10

// NewClient returns the HTTP client deliveries use: the policy is checked on the address of every
// connection at connect time (net.Dialer.Control), after DNS resolution, so a name that resolves
// differently later (DNS rebinding) cannot reach a refused address; no proxy from the
// environment; redirects are never followed (the 3xx is the answer); each request's context
// carries its timeout. It reports an error for an AllowHosts entry that is not a host name, an IP
// address or a CIDR prefix.
func NewClient(p Policy) (*http.Client, error) {
	g, err := newGuard(p)
	if err != nil {
		return nil, err
	}
	guarded := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	trusted := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, err := net.SplitHostPort(addr); err == nil && g.hosts[strings.ToLower(host)] {
				return trusted.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		},
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// guard is a parsed Policy.
type guard struct {
	allowLoopback bool
	hosts         map[string]bool
	prefixes      []netip.Prefix
}

func newGuard(p Policy) (*guard, error) {
	g := &guard{allowLoopback: p.AllowLoopback, hosts: map[string]bool{}}
	for _, h := range p.AllowHosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
		case strings.Contains(h, "/"):
			prefix, err := netip.ParsePrefix(h)
			if err != nil {
				return nil, fmt.Errorf("webhook: allowed host %q: not a CIDR prefix", h)
			}
			g.prefixes = append(g.prefixes, prefix.Masked())
		default:
			if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
				g.prefixes = append(g.prefixes, netip.PrefixFrom(ip.WithZone(""), ip.BitLen()))
				g.hosts[strings.ToLower(strings.Trim(h, "[]"))] = true
				continue
			}
			if strings.ContainsAny(h, ":@?#") {
				return nil, fmt.Errorf("webhook: allowed host %q: give a host name, an IP address or a CIDR prefix", h)
			}
			g.hosts[strings.ToLower(h)] = true
		}
	}
	return g, nil
}

// control is the dialer's check of the address about to be connected to.
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: network %s", ErrAddressNotAllowed, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrAddressNotAllowed, address)
	}
	ip := ap.Addr().WithZone("")
	for _, p := range g.prefixes {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return nil
		}
	}
	if !Allowed(ip, g.allowLoopback) {
		return ErrAddressNotAllowed
	}
	return nil
}

// Allowed reports whether a delivery may connect to ip: a public unicast address, or a loopback
// one when allowLoopback. An IPv6 address that embeds an IPv4 address (IPv4-mapped, IPv4-compatible,
// NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by the IPv4 address it embeds.
func Allowed(ip netip.Addr, allowLoopback bool) bool {
	ip = ip.WithZone("")
	if ip == netip.IPv6Loopback() {
		return allowLoopback
	}
	if v4, ok := embeddedIPv4(ip); ok {
		ip = v4
	}
	if !ip.IsValid() {
		return false
	}
	if ip.Is4() {
		if loopback4.Contains(ip) {
			return allowLoopback
		}
		for _, p := range refused4 {
			if p.Contains(ip) {
				return false
			}
		}
		return true
	}
	if !globalUnicast6.Contains(ip) {
		return false // unspecified, loopback, ULA fc00::/7, link-local fe80::/10, multicast ff00::/8...
	}
	for _, p := range refused6 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries in one of the standard ways.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case ip.Is4In6(): // ::ffff:a.b.c.d
		return ip.Unmap(), true
	case nat64.Contains(ip): // 64:ff9b::a.b.c.d
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip): // 2002:aabb:ccdd::/48
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case ipv4Compatible.Contains(ip): // ::a.b.c.d (deprecated); :: itself maps to 0.0.0.0
		return netip.AddrFrom4([4]byte(b[12:16])), true
	}
	return netip.Addr{}, false
}

var (
	loopback4      = netip.MustParsePrefix("127.0.0.0/8")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	ipv4Compatible = netip.MustParsePrefix("::/96")
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// refused4 are the IPv4 ranges that are not public unicast (RFC 6890 and its updates).
var refused4 = prefixes(
	"0.0.0.0/8",       // "this network", unspecified
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // shared address space (CGNAT)
	"169.254.0.0/16",  // link-local (cloud metadata services)
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and the broadcast address 255.255.255.255
)

// refused6 are the parts of 2000::/3 that are not public unicast; 2002::/16 is judged by the IPv4
// address it embeds before this list is consulted.
var refused6 = prefixes(
	"2001::/23",     // IETF protocol assignments: Teredo 2001::/32 (an obfuscated IPv4), ORCHID, benchmarking...
	"2001:db8::/32", // documentation
	"3fff::/20",     // documentation
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
