package mailaddr

import (
	"errors"
	"net/netip"
	"strings"
)

// SplitHostPort reads HOST[:PORT] — a smart host, a queue redirect's
// target, any setting or command that names a server with an optional
// port — the one way for all of them: a name or IPv4 address with or
// without ":PORT", an IPv6 address in brackets with or without ":PORT"
// ("[::1]", "[::1]:2525", an "IPv6:" tag inside the brackets allowed:
// then read as an address literal is, ParseLiteral),
// or a bare IPv6 address ("::1", no port: its colons are the address's).
// port is "" when none is given, else the text after the colon as
// written, never empty (the caller checks it is a port number, as it did
// of net.SplitHostPort's: a sign or leading zeros are its to judge). The host is returned without brackets. It is not
// checked to be a host name; text that fits none of these forms (a
// missing bracket, an empty host or port, a name with two colons, a
// name in brackets, an IPv6 address with a zone — "[fe80::1%eth0]",
// tagged or not, bracketed or bare: errNoZone) is an error.
func SplitHostPort(s string) (host, port string, err error) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		inner, after, ok := strings.Cut(rest, "]")
		if !ok {
			return "", "", errors.New("a \"[\" without its \"]\"")
		}
		if _, tagged := CutIPv6Tag(inner); tagged {
			// An address literal's tag: read as every literal is.
			a, err := ParseLiteral("[" + inner + "]")
			if err != nil {
				return "", "", errors.New("brackets hold an IPv6 address only: " + err.(*LiteralError).Reason)
			}
			inner = a.String()
		} else if a, err := netip.ParseAddr(inner); err != nil || !a.Is6() {
			return "", "", errors.New("brackets hold an IPv6 address only")
		} else if a.Zone() != "" {
			return "", "", errNoZone
		}
		switch {
		case after == "":
			return inner, "", nil
		case strings.HasPrefix(after, ":") && len(after) > 1:
			return inner, after[1:], nil
		}
		return "", "", errors.New("after \"]\" only \":PORT\" may follow")
	}
	switch strings.Count(s, ":") {
	case 0:
		if s == "" {
			return "", "", errors.New("no host")
		}
		return s, "", nil
	case 1:
		h, p, _ := strings.Cut(s, ":")
		if h == "" {
			return "", "", errors.New("no host before the port")
		}
		if p == "" {
			return "", "", errors.New("no port after the colon")
		}
		return h, p, nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
		if a.Zone() != "" {
			return "", "", errNoZone
		}
		return s, "", nil // a bare IPv6 address: no port (write [ADDRESS]:PORT for one)
	}
	return "", "", errors.New("more than one colon and no IPv6 address (write an IPv6 address with a port as [ADDRESS]:PORT)")
}

// errNoZone refuses an IPv6 address with a zone ("fe80::1%eth0", in
// brackets or bare): a zone names an interface of one machine, which a
// setting or a next hop shared across servers cannot mean; the words of
// an address literal's refusal of one (ParseLiteral).
var errNoZone = errors.New("an IPv6 address is written without a zone (%)")

// NoZone is errNoZone when host is an IP address with a zone, else nil:
// the check of an address umbra connects to that is read with
// net.SplitHostPort (a topology server's, an LMTP or milter address), so
// that it refuses a zone as SplitHostPort does.
func NoZone(host string) error {
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() != "" {
		return errNoZone
	}
	return nil
}

// ValidPort reports whether p is a port as HOST:PORT writes it: digits
// only (no sign, no space), a number from 1 to 65535, leading zeros
// allowed. It is the one port
// check of smart hosts, redirect targets, resolver addresses and mail
// addresses.
func ValidPort(p string) bool {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return false
		}
	}
	return n > 0 // leading zeros are the callers' to refuse or not (config: leadingZeroText)
}

// CanonicalHostPort is the one form of a HOST[:PORT] target (read by
// SplitHostPort): an IP address in its shortest form, an IPv6 address in
// brackets (`::1`, `[::1]` and `[0:0::1]` are `[::1]`), a host name
// case-folded and without a final dot (`MX.Example.` is `mx.example`),
// the port only when one was given, as its number (`025` is `25`). One
// next hop so has one form. A target that does not parse is returned as
// it is, and so is a port that is no port number (ValidPort).
func CanonicalHostPort(target string) string {
	host, port, err := SplitHostPort(target)
	if err != nil {
		return target
	}
	if port != "" && ValidPort(port) {
		port = strings.TrimLeft(port, "0") // ValidPort: not all zeros
	}
	if h := strings.TrimSuffix(host, "."); h != "" && !strings.Contains(host, ":") {
		host = h // a fully qualified name's final dot
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	} else {
		host = strings.ToLower(host)
	}
	if port != "" {
		return host + ":" + port
	}
	return host
}
