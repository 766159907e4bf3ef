package config

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"
	"umbra/internal/mailaddr"

	"gopkg.in/yaml.v3"
)

// DNS configures the one resolver every lookup goes through (package
// resolver): MX and addresses for delivery, PTR and blocklists at the
// edge, TXT for the authentication checks, TLSA for DANE.
type DNS struct {
	// Servers are the recursive servers asked in order, "ip" or
	// "ip:port"; empty: those of /etc/resolv.conf.
	Servers []string `yaml:"servers"`
	// Timeout bounds one attempt at one server; Attempts is how many
	// times the list is tried.
	Timeout  Duration `yaml:"timeout"`
	Attempts int      `yaml:"attempts"`
	// CacheSize bounds the answers kept; MaxTTL caps how long a positive
	// answer is kept; NegativeTTL caps how long a denial is kept (RFC
	// 2308: the SOA's minimum when it is smaller) and is the time for a
	// denial that carries no SOA.
	CacheSize   int      `yaml:"cache_size"`
	MaxTTL      Duration `yaml:"max_ttl"`
	NegativeTTL Duration `yaml:"negative_ttl"`
	// TrustAD: the servers validate DNSSEC and the path to them is
	// trusted, so their AD bit makes an answer secure (DANE). Needs
	// servers listed here, all on loopback.
	TrustAD bool `yaml:"trust_ad"`
	// HostsFile is asked for addresses before DNS, as the system's
	// resolver does ("files dns"): default /etc/hosts; "none" turns it
	// off. MX, TXT, PTR and TLSA records come from DNS only.
	HostsFile string `yaml:"hosts_file"`
}

// HostsPath is the hosts file to read, "" for none.
func (d DNS) HostsPath() string {
	if d.HostsFile == "none" {
		return ""
	}
	return d.HostsFile
}

// ServerAddrs returns Servers as host:port (port 53 where none is given).
func (d DNS) ServerAddrs() []string {
	out := make([]string, 0, len(d.Servers))
	for _, s := range d.Servers {
		if _, _, err := net.SplitHostPort(s); err == nil {
			out = append(out, s)
		} else {
			out = append(out, net.JoinHostPort(strings.Trim(s, "[]"), "53"))
		}
	}
	return out
}

// DNS defaults (dns:), as a stub resolver behaves (resolv.conf's
// defaults), with a cache that trusts TTLs up to an hour.
const (
	DefaultDNSTimeout     = 5 * time.Second
	DefaultDNSAttempts    = 2
	DefaultDNSCacheSize   = 10000
	DefaultDNSMaxTTL      = time.Hour
	DefaultDNSNegativeTTL = 5 * time.Minute
	DefaultDNSHostsFile   = "/etc/hosts"
)

func applyDNSDefaults(d *DNS) {
	setDur(&d.Timeout, DefaultDNSTimeout)
	setInt(&d.Attempts, DefaultDNSAttempts)
	setInt(&d.CacheSize, DefaultDNSCacheSize)
	setDur(&d.MaxTTL, DefaultDNSMaxTTL)
	setDur(&d.NegativeTTL, DefaultDNSNegativeTTL)
	if d.HostsFile == "" {
		d.HostsFile = DefaultDNSHostsFile
	}
}

func validateDNS(v *validator, d DNS) {
	for i, s := range d.Servers {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			host, port = strings.Trim(s, "[]"), "53"
		}
		ip, perr := netip.ParseAddr(host)
		if perr != nil {
			v.add(fmt.Sprintf("dns.servers: %q is not an IP address or ip:port", s), "dns", "servers", i)
			continue
		}
		if ip.Unmap().IsUnspecified() { // a server umbra dials: checkDialAddress's rule
			v.add(fmt.Sprintf("dns.servers: %q: %v", s, errUnspecifiedHost), "dns", "servers", i)
			continue
		}
		if err := mailaddr.NoZone(host); err != nil {
			// A server umbra dials, as checkDialAddress refuses one: a
			// zone names one machine's interface (and was dropped).
			v.add(fmt.Sprintf("dns.servers: %q: %v", s, err), "dns", "servers", i)
			continue
		}
		if !mailaddr.ValidPort(port) {
			v.add(fmt.Sprintf("dns.servers: %q has no valid port", s), "dns", "servers", i)
		} else if msg := leadingZeroText(port, false); msg != "" {
			v.add(fmt.Sprintf("dns.servers: %q: port %s", s, msg), "dns", "servers", i)
		} else if err := portLeadingZero(port); err != nil { // 007 too: as a smart host's (CheckHostPort)
			v.add(fmt.Sprintf("dns.servers: %q: %v", s, err), "dns", "servers", i)
		}
		if d.TrustAD && !mailaddr.LoopbackHost(host) { // ::ffff:127.0.0.1 too: the one rule
			v.compare(fmt.Sprintf("dns.trust_ad: server %s is not on loopback; only a validating resolver on this host may be trusted for DNSSEC", s),
				[][]any{{"dns", "trust_ad"}}, "dns", "servers", i)
		}
	}
	if d.TrustAD && len(d.Servers) == 0 {
		v.compare("dns.trust_ad needs dns.servers listed (a validating resolver on loopback), not those of /etc/resolv.conf", [][]any{{"dns", "servers"}}, "dns", "trust_ad")
	}
	if d.Timeout <= 0 {
		v.add("dns.timeout must be positive", "dns", "timeout")
	}
	if d.Attempts < 1 || d.Attempts > 10 {
		v.add(fmt.Sprintf("dns.attempts must be 1 to 10, not %d", d.Attempts), "dns", "attempts")
	}
	intIn(v, d.CacheSize, "dns", "cache_size")
	if d.MaxTTL <= 0 {
		v.add("dns.max_ttl must be positive", "dns", "max_ttl")
	}
	if d.NegativeTTL <= 0 {
		v.add("dns.negative_ttl must be positive", "dns", "negative_ttl")
	}
	if d.HostsFile != "none" && !strings.HasPrefix(d.HostsFile, "/") {
		v.add(fmt.Sprintf("dns.hosts_file: %q is not an absolute path (or none)", d.HostsFile), "dns", "hosts_file")
	}
}

// ConnectionFiltering is a receive connector's checks of the connecting
// client: DNS blocklists and allowlists at connect, and HELO checks.
type ConnectionFiltering struct {
	DNSBL DNSBL      `yaml:"dnsbl"`
	HELO  HELOChecks `yaml:"helo"`
}

// Actions of a connection check.
const (
	ActionOff      = "off"      // the check does not run
	ActionLog      = "log"      // the result is logged and counted only
	ActionTempfail = "tempfail" // 450 (421 at connect): try again later
	ActionReject   = "reject"   // 554 5.7.1 (550 at HELO)
)

// DNSBL is the blocklist check at connect: the client's address is looked
// up in each list (zen-style: reversed octets under the list's zone,
// answered with A records in 127.0.0.0/8). The score is the sum of the
// weights of the block lists that list the client, less those of the
// allow lists that do; at Threshold or above, Action applies. A client on
// an exempt list is never refused by blocklists.
type DNSBL struct {
	Lists []DNSList `yaml:"lists"`
	// Threshold: the score at which Action applies (default 1).
	Threshold float64 `yaml:"threshold"`
	// Action: reject (default), tempfail or log.
	Action string `yaml:"action"`
}

// DNSList is one DNS list.
type DNSList struct {
	// Zone is the list's DNS zone, e.g. zen.spamhaus.org.
	Zone string `yaml:"zone"`
	// Kind: block (default), allow (a listing subtracts Weight) or exempt
	// (a listing skips the blocklist verdict).
	Kind string `yaml:"kind"`
	// Weight counts toward the score (default 1).
	Weight float64 `yaml:"weight"`
	// Codes maps return codes to the reason a listing gives: a key is an
	// address ("127.0.0.2"), a range ("127.0.0.4-127.0.0.7") or a prefix
	// ("127.0.0.0/24") inside 127.0.0.0/8, outside the 127.255.255.0/24
	// error codes. Empty: every return code lists, with reason "listed".
	// An answer no code matches does not list.
	Codes map[string]string `yaml:"codes"`
}

// Kinds of DNS list.
const (
	ListBlock  = "block"
	ListAllow  = "allow"
	ListExempt = "exempt"
)

// UnmarshalYAML decodes a list on top of its presets (weight 1, so that
// an explicit weight is never confused with an absent one).
func (l *DNSList) UnmarshalYAML(n *yaml.Node) error {
	type plain DNSList
	p := plain{Kind: ListBlock, Weight: 1}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*l = DNSList(p)
	return nil
}

// connectionFilteringPresets: a connector's blocklist check refuses at
// a score of 1 unless told otherwise.
func connectionFilteringPresets() ConnectionFiltering {
	return ConnectionFiltering{DNSBL: DNSBL{Threshold: 1, Action: ActionReject}}
}

// HELOChecks are the checks of the HELO/EHLO name and the client's
// reverse DNS, each with its action (off by default).
type HELOChecks struct {
	// Syntax: the name must be a host name or an address literal
	// (RFC 5321 §4.1.1.1); reject answers 501 5.5.2.
	Syntax string `yaml:"syntax"`
	// FCrDNS: the client's address must have a PTR name whose addresses
	// include it (forward-confirmed reverse DNS); reject answers 550
	// 5.7.25 (RFC 7372).
	FCrDNS string `yaml:"fcrdns"`
	// MustResolve: a HELO host name must have an A or AAAA record;
	// reject answers 550 5.7.1.
	MustResolve string `yaml:"must_resolve"`
}

// Enabled reports whether any DNS list or HELO check is configured.
func (f ConnectionFiltering) Enabled() bool {
	h := f.HELO
	return len(f.DNSBL.Lists) > 0 || (h.Syntax != "" && h.Syntax != ActionOff) ||
		(h.FCrDNS != "" && h.FCrDNS != ActionOff) || (h.MustResolve != "" && h.MustResolve != ActionOff)
}

func applyConnectionFilteringDefaults(f *ConnectionFiltering) {
	for _, p := range []*string{&f.HELO.Syntax, &f.HELO.FCrDNS, &f.HELO.MustResolve} {
		if *p == "" {
			*p = ActionOff
		}
	}
}

func validateConnectionFiltering(v *validator, f ConnectionFiltering, at func(...any) []any) {
	b := f.DNSBL
	switch b.Action {
	case ActionReject, ActionTempfail, ActionLog:
	default:
		v.add(fmt.Sprintf("connection_filtering.dnsbl.action must be reject, tempfail or log, not %q", b.Action),
			at("connection_filtering", "dnsbl", "action")...)
	}
	if b.Threshold <= 0 {
		v.add("connection_filtering.dnsbl.threshold must be positive", at("connection_filtering", "dnsbl", "threshold")...)
	}
	zones := map[string]bool{}
	for i, l := range b.Lists {
		p := func(k ...any) []any { return at(append([]any{"connection_filtering", "dnsbl", "lists", i}, k...)...) }
		z := mailaddr.NameKey(l.Zone)
		if !IsDomain(z) {
			v.add(fmt.Sprintf("connection_filtering.dnsbl.lists: zone %q is not a domain name", l.Zone), p("zone")...)
		} else if zones[z] {
			v.add(fmt.Sprintf("connection_filtering.dnsbl.lists: zone %s is listed twice", z), p("zone")...)
		}
		zones[z] = true
		switch l.Kind {
		case ListBlock, ListAllow, ListExempt:
		default:
			v.add(fmt.Sprintf("connection_filtering.dnsbl.lists: kind must be block, allow or exempt, not %q", l.Kind), p("kind")...)
		}
		if l.Weight <= 0 {
			v.add("connection_filtering.dnsbl.lists: weight must be positive", p("weight")...)
		}
		keys := make([]string, 0, len(l.Codes))
		for k := range l.Codes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, err := ParseReturnCode(k); err != nil {
				v.add(fmt.Sprintf("connection_filtering.dnsbl.lists: code %q: %v", k, err), p("codes", k)...)
			} else if strings.TrimSpace(l.Codes[k]) == "" || !printableASCII(l.Codes[k]) {
				v.add(fmt.Sprintf("connection_filtering.dnsbl.lists: code %q needs a reason of printable ASCII (it goes into the SMTP reply)", k), p("codes", k)...)
			}
		}
	}
	h := f.HELO
	for _, c := range []struct{ key, val string }{{"syntax", h.Syntax}, {"fcrdns", h.FCrDNS}, {"must_resolve", h.MustResolve}} {
		switch c.val {
		case ActionOff, ActionLog, ActionTempfail, ActionReject:
		default:
			v.add(fmt.Sprintf("connection_filtering.helo.%s must be off, log, tempfail or reject, not %q", c.key, c.val),
				at("connection_filtering", "helo", c.key)...)
		}
	}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ReturnCodes is a parsed return-code key: the inclusive range of
// addresses it matches.
type ReturnCodes struct{ First, Last netip.Addr }

// Contains reports whether a is in the range.
func (r ReturnCodes) Contains(a netip.Addr) bool {
	return a.Is4() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

var (
	dnsblAnswers = netip.MustParsePrefix("127.0.0.0/8")
	dnsblErrors  = netip.MustParsePrefix("127.255.255.0/24")
)

// IsDNSBLErrorCode reports whether a is one of the 127.255.255.x codes
// Spamhaus answers instead of a listing (query refused, open resolver,
// rate limit): never a listing.
func IsDNSBLErrorCode(a netip.Addr) bool { return dnsblErrors.Contains(a) }

// IsDNSBLAnswer reports whether a is a return code a DNS list may give:
// inside 127.0.0.0/8 and not an error code.
func IsDNSBLAnswer(a netip.Addr) bool {
	return a.Is4() && dnsblAnswers.Contains(a) && !dnsblErrors.Contains(a)
}

// ParseReturnCode parses a return-code key: "127.0.0.2", a range
// "127.0.0.4-127.0.0.7" or a prefix "127.0.0.0/24", all inside
// 127.0.0.0/8 and clear of the 127.255.255.0/24 error codes.
func ParseReturnCode(s string) (ReturnCodes, error) {
	s = strings.TrimSpace(s)
	var r ReturnCodes
	switch {
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return r, fmt.Errorf("not an IPv4 prefix")
		}
		if p.Masked() != p {
			return r, fmt.Errorf("has host bits set (did you mean %s?)", p.Masked())
		}
		r.First = p.Addr()
		last := p.Addr().As4()
		bits := p.Bits()
		for i := range 4 {
			for b := range 8 {
				if i*8+b >= bits {
					last[i] |= 0x80 >> b
				}
			}
		}
		r.Last = netip.AddrFrom4(last)
	case strings.Contains(s, "-"):
		a, b, _ := strings.Cut(s, "-")
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || !first.Is4() || !last.Is4() {
			return r, fmt.Errorf("not a range of IPv4 addresses")
		}
		if last.Less(first) {
			return r, fmt.Errorf("range ends before it starts")
		}
		r.First, r.Last = first, last
	default:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return r, fmt.Errorf("not an IPv4 address")
		}
		r.First, r.Last = a, a
	}
	if !dnsblAnswers.Contains(r.First) || !dnsblAnswers.Contains(r.Last) {
		return r, fmt.Errorf("outside 127.0.0.0/8, where DNS lists answer")
	}
	if dnsblErrors.Contains(r.Last) {
		return r, fmt.Errorf("reaches 127.255.255.0/24, the lists' error codes, which never mean listed")
	}
	return r, nil
}
