package delivery

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/resolver"
)

// hostSource looks up the addresses of a destination's next hops as one
// delivery attempt comes to them, in the order they are tried: MX hosts
// by preference (random among equals), smart hosts in random order, or
// the domain's own address. A domain may publish many MX hosts whose
// lookups hang; looking all of them up before the first connection held
// a delivery slot for a resolver timeout per host (rt60 M2). So:
//   - a preference's hosts are looked up together (this server among
//     them drops them all, RFC 5321 §5.1), and the next preference only
//     when the attempt has tried those before it, or none of them is of
//     use (deprioritised for failing, this server, not listed by an
//     enforced MTA-STS policy);
//   - at most 2 × mx_address_limit names are looked up in one attempt
//     (maxNames; smart hosts and a connector without the limit: no bound);
//   - all the lookups of the attempt, the MX lookup included, take at
//     most transport.mx_lookup_timeout together (left: the time they
//     may still take; connecting to hosts between them does not count);
//   - this server is found among the MX hosts by address only (one its
//     receive connectors listen on, ownBinding): its host name is a hint,
//     never the test (rt16b F1: another server may carry the same name).
//     An MX host with this server's name is looked up first, wherever the
//     set lists it (within the bounds above: it counts as a name looked
//     up, once); when an address of it is this server's, no host of its
//     preference or a worse one is looked up or tried, else it is tried
//     in its turn as any other host.
//
// cut says why names were left: the attempt then defers, never bounces
// on the denials of the names it asked about.
type hostSource struct {
	r     Resolver
	names []string
	prefs []int // nil: smart hosts or the domain's own address
	mx    bool  // names are MX targets (prefs set)
	port  string
	// own reports an address (ip:port) this server listens on.
	own func(addr string) bool
	// maxNames bounds the names looked up (0: none).
	maxNames int
	left     time.Duration // lookup time left to the attempt
	timeout  time.Duration // transport.mx_lookup_timeout, for the replies
	// numeric is told each MX exchange skipped as IP-address text, or as
	// the root (".") of an MX answer that is no null MX (nil: none told).
	numeric func(name string)

	next       int // names[next:] are not looked up yet
	given      int // hosts[given:] are not taken yet
	hosts      []host
	unresolved []unresolvedHost
	self       *host // this server among the MX hosts (by address)
	selfPref   int
	looked     int // names looked up so far (maxNames bounds it)
	// hint is the index of the MX host named as this server, looked up
	// first (-1: none, or done); early is its lookup's result, used in
	// its turn instead of a second lookup.
	hint     int
	early    *earlyLookup
	cut      string // why names[next:] were left, "" when none was
	timedOut bool
	implicit bool // names is the domain itself (it has no MX)
}

// earlyLookup is the result of the lookup of names[i] made before its
// turn (the MX host named as this server).
type earlyLookup struct {
	i          int
	hosts      []host
	unresolved []unresolvedHost
}

// newHostSource prepares the lookups of names (nextHopNames' result).
// An MX host named as this server (hostname) is looked up first (hint):
// its address, not its name, says whether it is this server.
func newHostSource(r Resolver, names []string, prefs []int, port string, hostname string, bindings []string,
	maxAddresses int, left, timeout time.Duration) *hostSource {
	s := &hostSource{r: r, names: names, prefs: prefs, mx: prefs != nil, port: port,
		own: func(addr string) bool { return ownBinding(bindings, addr) }, left: left, timeout: timeout, hint: -1}
	if s.mx && maxAddresses > 0 {
		s.maxNames = 2 * maxAddresses
	}
	if h := mailaddr.NameKey(hostname); s.mx && h != "" && h != "localhost" && !strings.HasSuffix(h, ".localhost") {
		for i, n := range names {
			if mailaddr.NameKey(n) == h {
				s.hint = i
				break
			}
		}
	}
	return s
}

// lookHint looks up the MX host named as this server before its turn
// (within the bounds): one of its addresses this server listens on makes
// it this server (add); else its result waits for its turn (early).
func (s *hostSource) lookHint(lctx, ctx context.Context) {
	i := s.hint
	s.hint = -1
	if i < s.next || s.maxNames > 0 && s.looked >= s.maxNames {
		return
	}
	h0, u0 := len(s.hosts), len(s.unresolved)
	s.lookup(lctx, ctx, i)
	e := &earlyLookup{i: i, hosts: append([]host(nil), s.hosts[h0:]...), unresolved: append([]unresolvedHost(nil), s.unresolved[u0:]...)}
	s.hosts, s.unresolved = s.hosts[:h0], s.unresolved[:u0]
	if s.timedOut {
		s.timeUp()
		return
	}
	s.early = e
}

// fill looks up names, a preference at a time, until a host not yet
// taken is usable, the names are done, this server is among the hosts,
// or a bound cut the lookups (cut). usable decides which addresses count
// (not a host delivery deprioritises, one the destination's MTA-STS
// policy lists; never this server); nil: every address.
func (s *hostSource) fill(ctx context.Context, usable func(host) bool) {
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, s.left)
	defer func() {
		cancel()
		s.left -= time.Since(start)
	}()
	if s.hint >= 0 && s.cut == "" {
		s.lookHint(lctx, ctx)
	}
	for s.next < len(s.names) && s.cut == "" {
		if s.self != nil && s.mx && s.prefAt(s.next) >= s.selfPref {
			s.names, s.prefs = s.names[:s.next], s.prefs[:s.next] // this server: the rest is never tried
			return
		}
		if s.pendingUsable(usable) {
			return
		}
		end := s.next + 1
		for s.prefs != nil && end < len(s.names) && s.prefs[end] == s.prefs[s.next] {
			end++
		}
		for ; s.next < end; s.next++ {
			if s.maxNames > 0 && s.looked >= s.maxNames && (s.early == nil || s.early.i != s.next) {
				s.cut = strconv.Itoa(len(s.names)-s.next) + " more MX hosts not looked up in this attempt (at most 2 × mx_address_limit " +
					strconv.Itoa(s.maxNames/2) + " names are)"
				return
			}
			if lctx.Err() != nil && ctx.Err() == nil {
				s.timeUp()
				return
			}
			s.lookup(lctx, ctx, s.next)
			if s.timedOut {
				s.next++
				s.timeUp()
				return
			}
		}
	}
}

// pendingUsable: a host looked up and not taken yet is usable.
func (s *hostSource) pendingUsable(ok func(host) bool) bool {
	for _, h := range s.hosts[s.given:] {
		if !s.own(h.addr) && (ok == nil || ok(h)) {
			return true
		}
	}
	return false
}

// pending is the hosts looked up and not taken yet.
func (s *hostSource) pending() []host { return s.hosts[s.given:] }

// take returns the hosts looked up since the last take.
func (s *hostSource) take() []host {
	out := s.hosts[s.given:]
	s.given = len(s.hosts)
	return out
}

// more: names are left to look up in this attempt, or hosts to take.
func (s *hostSource) more() bool {
	return s.given < len(s.hosts) || s.cut == "" && s.next < len(s.names) &&
		!(s.self != nil && s.mx && s.prefAt(s.next) >= s.selfPref)
}

// notTried says what an attempt cut by an MX limit leaves: addresses
// known and not tried, and hosts not looked up (their addresses are not
// known: the attempt did not ask).
func (s *hostSource) notTried(addresses int) string {
	count := func(n int, one, many string) string {
		if n == 1 {
			return "1 more " + one
		}
		return strconv.Itoa(n) + " more " + many
	}
	names := len(s.names) - s.next
	switch {
	case names > 0 && addresses > 0:
		return count(addresses, "address", "addresses") + " and " + count(names, "host", "hosts")
	case names > 0:
		return count(names, "host", "hosts")
	}
	return count(addresses, "address", "addresses")
}

// timeUp records that the lookup time ran out before names[next:].
func (s *hostSource) timeUp() {
	s.timedOut = true
	s.cut = "the lookups of this attempt took transport.mx_lookup_timeout " + s.timeout.String()
	if left := len(s.names) - s.next; left > 0 {
		s.cut += "; " + strconv.Itoa(left) + " more hosts not looked up in this attempt"
	}
}

func (s *hostSource) prefAt(i int) int {
	if i < len(s.prefs) {
		return s.prefs[i]
	}
	return 0
}

// lookup looks up names[i] (a host, host:port or an IP address: a
// smart host's). An MX record's exchange that is IP-address text names
// no host (RFC 5321 §5.1): it is skipped, never connected to, and
// counts as a host without an address (resolver.NumericMX); so does an
// exchange "." of an answer that is no null MX (resolver.RootMX).
func (s *hostSource) lookup(lctx, ctx context.Context, i int) {
	if e := s.early; e != nil && e.i == i { // looked up before its turn (lookHint)
		s.early = nil
		for _, h := range e.hosts {
			s.add(h)
		}
		s.unresolved = append(s.unresolved, e.unresolved...)
		return
	}
	s.looked++
	n, pref := s.names[i], s.prefAt(i)
	if s.mx && (mailaddr.IPText(n) || n == ".") {
		if s.numeric != nil {
			s.numeric(n)
		}
		err := resolver.NumericMX(n)
		if n == "." {
			err = resolver.RootMX(pref)
		}
		s.unresolved = append(s.unresolved, unresolvedHost{resolver.HostLookup{Host: n, Err: err}, pref})
		return
	}
	name, p := n, s.port
	if h, pp, err := mailaddr.SplitHostPort(n); err == nil { // [::1] and [::1]:2525 alike (rt18c-F8)
		name = h
		if pp != "" {
			p = pp
		}
	}
	if ip := net.ParseIP(name); ip != nil {
		s.add(host{name: name, addr: net.JoinHostPort(name, p), pref: pref})
		return
	}
	addrs, err := s.r.LookupHost(lctx, name)
	if err != nil {
		if lctx.Err() != nil && ctx.Err() == nil {
			s.timedOut = true // the attempt's lookup time, not the host's answer
			err = &net.DNSError{Err: "not answered within transport.mx_lookup_timeout " + s.timeout.String(), Name: name, IsTimeout: true, IsTemporary: true}
		}
		s.unresolved = append(s.unresolved, unresolvedHost{resolver.HostLookup{Host: name, Err: err}, pref})
		return
	}
	for _, a := range addrs {
		s.add(host{name: name, addr: net.JoinHostPort(a, p), pref: pref})
	}
}

func (s *hostSource) add(h host) {
	s.hosts = append(s.hosts, h)
	// The unspecified address is dropped alone (dropSelf): it does not
	// make its host this server, nor cut the MX hosts after it.
	if s.mx && s.own(h.addr) && !unspecifiedHop(h.addr) && (s.self == nil || h.pref < s.selfPref) {
		self := h
		s.self, s.selfPref = &self, h.pref
	}
}

// lookupTimeout is the time the lookups of one attempt may take
// together (transport.mx_lookup_timeout).
func (st *state) lookupTimeout() time.Duration {
	if t := st.cfg.MXLookupTimeout; t > 0 {
		return t
	}
	return config.DefaultMXLookupTimeout
}

// lookupTimedOut: err is the lookup time's end (lctx's timeout), not
// the resolver's answer, nor the stop.
func lookupTimedOut(lctx, ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && errors.Is(lctx.Err(), context.DeadlineExceeded)
}
