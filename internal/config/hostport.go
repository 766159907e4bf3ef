package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"umbra/internal/mailaddr"
)

// CheckHostPort is the one check of a HOST[:PORT] that names a server
// umbra sends to — a smart host (the configuration file's and the
// topology's, and those route explain --topology FILE gives the admin
// API's self-check), a queue redirect's target (--to, the API's ?to=)
// and a redirect queue's name: read by mailaddr.SplitHostPort, the port (when
// one is given) a number from 1 to 65535 written with digits only and
// no leading zero (025, which reads 21 as an octal number, and 007
// alike), the host a host name or an IP address (IsHost) other than the
// unspecified address (UnspecifiedHost). A target one
// of them refuses all of them refuse, in the same words.
//
// The error says what is wrong without quoting s: the caller names what
// s is and shows s by its own rule ("smart host %q: …", the API's
// queue.QuoteShown).
func CheckHostPort(s string) error {
	host, port, err := mailaddr.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("not HOST[:PORT] (a host name or an IP address, :PORT after it; an IPv6 address with a port is [ADDRESS]:PORT): %v", err)
	}
	if port != "" {
		if !mailaddr.ValidPort(port) {
			return errors.New("the port is not a number from 1 to 65535")
		}
		if err := portLeadingZero(port); err != nil {
			return err
		}
	}
	if !IsHost(host) {
		return errors.New("the host is not a host name or an IP address" + hostHint(host))
	}
	if UnspecifiedHost(host) {
		return errors.New("the host " + UnspecifiedWords)
	}
	return nil
}

// portLeadingZero refuses a port (digits only, 1 to 65535) written with
// a leading zero: in the words of every other number whose octal and
// decimal readings differ (leadingZeroText), and also where they agree
// (007): a port umbra connects to is written one way — a smart host's,
// a redirect target's (CheckHostPort), mailbox.lmtp's, a milter's inet:,
// a topology server's (checkDialAddress), a dns.servers entry's and
// ldap.url's.
func portLeadingZero(port string) error {
	if len(port) < 2 || port[0] != '0' {
		return nil
	}
	// Digits only by now: numbers are shown, never other text.
	if msg := leadingZeroText(port, false); msg != "" {
		return errors.New("the port " + msg)
	}
	return fmt.Errorf("the port %s has a leading zero: write %s", port, strings.TrimLeft(port, "0"))
}

// UnspecifiedWords say why the unspecified address is no next hop: the
// one wording of CheckHostPort and the topology's server addresses.
const UnspecifiedWords = "is the unspecified address, which connects to this machine itself (its bound source address, or loopback): give the address the server is reached at"

// UnspecifiedHost reports whether host (an IP address, in brackets or
// not) is the unspecified address in any of its forms: 0.0.0.0, ::,
// ::ffff:0.0.0.0. Connecting to it reaches this machine itself (rt27c
// F2: a smart host or a redirect to it reached this server's own
// listener), so no next hop may be one (CheckHostPort, the topology's
// server addresses); delivery takes a resolved one for a loop.
func UnspecifiedHost(host string) bool {
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && ip.Unmap().IsUnspecified()
}

// UnspecifiedNameError is the refusal of a host name (a milter's inet:
// host, mailbox.lmtp's, a topology server's) whose addresses, looked up
// when umbra connects, are all the unspecified address: connecting to it
// reaches this machine itself, as the literal address refused at load
// would (UnspecifiedHost), so it is not connected to.
type UnspecifiedNameError struct {
	Host string // the name
	Addr string // the address it resolved to (0.0.0.0, ::, ::ffff:0.0.0.0)
}

func (e *UnspecifiedNameError) Error() string {
	return fmt.Sprintf("host name %s resolves to %s, the unspecified address, which connects to this machine itself "+
		"(its bound source address, or loopback): not connected to; give the name the address the host is reached at", e.Host, e.Addr)
}

// DropUnspecified is addrs (a host name's addresses, as looked up) without
// the unspecified ones, and the first of those it dropped ("" when none):
// an unspecified address in a lookup is never connected to, and the
// others are tried; a name left with none is refused by the caller
// (UnspecifiedNameError).
func DropUnspecified(addrs []string) (kept []string, dropped string) {
	for _, a := range addrs {
		if UnspecifiedHost(a) {
			if dropped == "" {
				dropped = a
			}
			continue
		}
		kept = append(kept, a)
	}
	return kept, dropped
}
