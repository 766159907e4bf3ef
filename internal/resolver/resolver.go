package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"umbra/internal/mailaddr"

	"github.com/miekg/dns"
)

// Resolver is what umbra's code looks names up with. The first five
// methods have net.Resolver's signatures and error conventions, so
// libraries written for it take a Resolver unchanged.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	// Lookup asks for one record type and returns the whole answer,
	// with whether it was DNSSEC-validated (Answer.Secure). NXDOMAIN and
	// NODATA are errors with IsNotFound set; Lookup still returns the
	// Answer then, so a caller can see whether the denial was secure.
	Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error)
}

// Answer is the answer section of a response.
type Answer struct {
	Name   string   // the name asked, fully qualified
	Type   uint16   // the type asked
	Rcode  int      // dns.RcodeSuccess, dns.RcodeNameError, …
	Secure bool     // the AD bit of a trusted validating server
	RRs    []dns.RR // the records of the type asked (CNAMEs followed); shared, read-only
	// CNAMEs are the aliases followed from Name, each target in order
	// (the last is the name RRs, or a denial, are for).
	CNAMEs []string
	// TTL is how long the answer may be kept: the smallest TTL of RRs;
	// for a denial (NXDOMAIN, NODATA) with an SOA in the authority
	// section, the negative TTL of RFC 2308 §5 (the smaller of the SOA's
	// TTL and its MINIMUM field), and SOA is set.
	TTL time.Duration
	SOA bool
}

// Config configures a Client.
type Config struct {
	// Servers are host:port addresses asked in order. Empty: those of
	// /etc/resolv.conf.
	Servers []string
	// Timeout bounds one attempt at one server (default 5 s).
	Timeout time.Duration
	// Attempts is how many times the list of servers is tried (default 2).
	Attempts int
	// TrustAD: the servers validate DNSSEC and the path to them is
	// trusted (loopback), so their AD bit is believed.
	TrustAD bool
	// HostsFile, when set (umbra's default: /etc/hosts), is asked for
	// addresses before DNS (hosts.go).
	HostsFile string
}

// Client is a stub resolver speaking to recursive servers: UDP first,
// TCP when the answer is truncated.
type Client struct {
	cfg   Config
	udp   *dns.Client
	tcp   *dns.Client
	hosts *hostsFile
}

// New returns a Client. With no servers configured it reads
// /etc/resolv.conf.
func New(cfg Config) (*Client, error) {
	if len(cfg.Servers) == 0 {
		servers, err := systemServers(resolvConf)
		if err != nil {
			return nil, err
		}
		cfg.Servers = servers
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 2
	}
	return &Client{cfg: cfg, hosts: newHostsFile(cfg.HostsFile),
		udp: &dns.Client{Net: "udp", Timeout: cfg.Timeout, UDPSize: 1232},
		tcp: &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
	}, nil
}

// Servers returns how many servers the client asks.
func (c *Client) Servers() int { return len(c.cfg.Servers) }

// Budget is the most one lookup takes: Timeout for every attempt at
// every server (dns.timeout × attempts × servers).
func (c *Client) Budget() time.Duration {
	return c.cfg.Timeout * time.Duration(c.cfg.Attempts*max(1, len(c.cfg.Servers)))
}

// maxCNAMEs bounds the aliases one lookup follows, within a response
// and across the queries it makes for them.
const maxCNAMEs = 8

// Lookup implements Resolver. A CNAME chain is followed: within the
// response, and where the server answered an alias without its target's
// records (local data for a name out of its zone does), by asking for the
// chain's end — at most maxCNAMEs aliases, a loop is an error. The answer
// is Secure only when every response was.
func (c *Client) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	// One lookup — its CNAME chain followed, a truncated answer asked
	// again over TCP — takes at most every attempt at every server
	// (Budget), not that for each query it makes.
	end := time.Now().Add(c.Budget())
	if e, ok := ctx.Value(budgetEnd{}).(time.Time); ok && e.Before(end) {
		end = e // a cache's bound of the lookup it shares (Cache)
	}
	ctx, cancel := context.WithDeadline(context.WithValue(ctx, budgetEnd{}, end), end)
	defer cancel()
	fqdn := dns.Fqdn(name)
	if strings.ContainsAny(name, "[]") {
		// An address literal ([192.0.2.1], a mail domain that is none):
		// no record can be at it, and DNS is never asked.
		return &Answer{Name: fqdn, Type: qtype, Rcode: dns.RcodeNameError},
			dnsError(name, "", "no such host (an address literal, not a domain name)", false, true)
	}
	if mailaddr.IPText(name) {
		// IP-address text ("192.0.2.1", "127.1": a mail domain that is
		// none, since no top-level label is all digits): no record can
		// be at it, and DNS is never asked (a resolver would return the
		// address it spells to whoever asks its A record).
		return &Answer{Name: fqdn, Type: qtype, Rcode: dns.RcodeNameError},
			dnsError(name, "", "no such host (IP-address text, not a domain name)", false, true)
	}
	if !IsDomainName(fqdn) {
		// No record can exist at a name longer than a domain name may
		// be: not found, never a DNS failure (a TLSA or MTA-STS name
		// built from a long host would otherwise defer for ever).
		return &Answer{Name: fqdn, Type: qtype, Rcode: dns.RcodeNameError},
			dnsError(name, "", "no such host (not a domain name: over 253 characters or a label over 63)", false, true)
	}
	a := &Answer{Name: fqdn, Type: qtype, Secure: c.cfg.TrustAD}
	target := fqdn
	seen := map[string]bool{nameKey(fqdn): true}
	for {
		r, srv, err := c.exchange(ctx, name, target, qtype)
		if err != nil {
			return nil, err
		}
		a.Rcode = r.Rcode
		a.Secure = a.Secure && r.AuthenticatedData
		rrs, ttl, chain, loop := answerRRs(r, target, qtype, seen)
		a.CNAMEs = append(a.CNAMEs, chain...)
		switch {
		case loop != "":
			return nil, dnsError(name, srv, "CNAME loop at "+loop+" ("+a.chain()+")", true, false)
		case len(a.CNAMEs) > maxCNAMEs:
			return nil, dnsError(name, srv, fmt.Sprintf("CNAME chain longer than %d (%s)", maxCNAMEs, a.chain()), true, false)
		case len(rrs) == 0 && len(chain) > 0 && r.Rcode == dns.RcodeSuccess:
			target = chain[len(chain)-1] // the server left the chain: ask for its end
			continue
		}
		a.RRs, a.TTL = rrs, ttl
		if len(a.RRs) == 0 {
			a.TTL, a.SOA = negativeTTL(r)
		}
		if r.Rcode == dns.RcodeNameError {
			return a, dnsError(name, srv, "no such host"+a.via(), false, true)
		}
		if len(a.RRs) == 0 {
			return a, dnsError(name, srv, "no "+dns.Type(qtype).String()+" record"+a.via(), false, true)
		}
		return a, nil
	}
}

// chain is the aliases followed from the name asked, as "a -> b -> c".
func (a *Answer) chain() string {
	return strings.Join(append([]string{a.Name}, a.CNAMEs...), " -> ")
}

// via names where a denial after aliases applies: the chain's end.
func (a *Answer) via() string {
	if len(a.CNAMEs) == 0 {
		return ""
	}
	return " for " + a.CNAMEs[len(a.CNAMEs)-1] + " (CNAME chain " + a.chain() + ")"
}

// exchange asks the servers in order, Attempts times over, for one
// question: the first response that is an answer or a denial (SERVFAIL,
// REFUSED and the like ask the next server).
func (c *Client) exchange(ctx context.Context, name, fqdn string, qtype uint16) (*dns.Msg, string, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.RecursionDesired = true
	q.SetEdns0(1232, true) // DO: ask for DNSSEC so a validator sets AD
	q.AuthenticatedData = true
	var last error
	silent, tries := 0, 0 // asks no server answered within dns.timeout, of all asks
	for range c.cfg.Attempts {
		for _, srv := range c.cfg.Servers {
			if err := ctx.Err(); err != nil {
				if last != nil && silent == tries && errors.Is(err, context.DeadlineExceeded) {
					// The lookup's bound (every attempt's timeout) ended
					// with the last silent server: that is what failed.
					return nil, "", last
				}
				return nil, srv, dnsError(name, srv, "context: "+err.Error(), true, false)
			}
			tries++
			r, raw, err := ask(ctx, c.udp, q, srv)
			if err == nil && r.Truncated {
				r, raw, err = ask(ctx, c.tcp, q, srv)
			}
			if err != nil {
				msg := err.Error()
				if _, ok := err.(*noAnswer); ok {
					if silent++; silent == tries && tries > 1 {
						// None answered at all: every server, every attempt.
						servers := c.cfg.Servers[:min(tries, len(c.cfg.Servers))]
						msg = fmt.Sprintf("no answer from %s within %s (dns.timeout) at any of %d tries (dns.attempts %d)",
							strings.Join(servers, ", "), c.cfg.Timeout, tries, c.cfg.Attempts)
					}
				}
				last = dnsError(name, srv, msg, true, false)
				continue
			}
			if r.Id != q.Id {
				last = dnsError(name, srv, "reply id mismatch", true, false)
				continue
			}
			if !sameQuestion(r, q) {
				// An answer to another question (spoofed, misrouted, a
				// broken server): no answer, never used (RFC 5452 §9.1).
				last = dnsError(name, srv, "reply question mismatch", true, false)
				continue
			}
			if msg := cutRecord(r); msg != "" {
				// A record read as a value it does not hold: no answer,
				// as a reply the DNS library cannot parse is none.
				last = dnsError(name, srv, msg, true, false)
				continue
			}
			if msg := wholeReply(raw); msg != "" {
				// Fewer (or more) records than the header counts, an
				// RDATA its fields do not fill: a broken reply, never
				// the part of an answer it holds — a TCP reply with TC
				// set too, which excuses nothing in the records used
				// (TestTruncatedTCPReplyCheckedWhole).
				last = dnsError(name, srv, msg, true, false)
				continue
			}
			switch r.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				return r, srv, nil
			}
			// SERVFAIL, REFUSED, …: ask the next server
			last = dnsError(name, srv, "server answered "+rcodeName(r.Rcode), true, false)
		}
	}
	return nil, "", last
}

// ask sends q to srv over cl's transport and reads the reply, cut the
// moment ctx ends. The DNS library bounds the exchange by the context's
// deadline but never looks at a cancellation: a lookup of an attempt
// cut by the stop or by its message's expiry (a cancel, no deadline)
// waited on a silent server for the whole dns.timeout of each attempt.
// The connection is closed when ctx ends, which ends the write or read
// at once, whenever the cancellation lands: a deadline set then (as
// before) was overwritten by the exchange's own read and write
// deadlines (now + the client's timeout) when the cancellation came
// between the dial and the exchange, and the query waited the whole
// timeout.
//
// The reply's bytes are read here, not by the library's exchange, so
// that they can be checked whole (wholeReply: the library takes a reply
// whose sections hold fewer records than its header counts as the
// records it holds). A server that did not answer within the client's
// timeout is said so, naming the setting (noAnswer) — never as the
// socket's "i/o timeout" or the lookup's own bound expiring with it
// ("context deadline exceeded"), whichever of the two came first.
func ask(ctx context.Context, cl *dns.Client, q *dns.Msg, srv string) (*dns.Msg, []byte, error) {
	start := time.Now()
	conn, err := cl.DialContext(ctx, srv)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if afterDial != nil {
		afterDial(ctx)
	}
	r, p, err := exchangeOn(ctx, cl, q, conn)
	if err != nil {
		var ne net.Error
		timedOut := errors.As(err, &ne) && ne.Timeout() || errors.Is(ctx.Err(), context.DeadlineExceeded)
		if timedOut && (time.Since(start) >= cl.Timeout*9/10 || ownBound(ctx)) {
			return nil, nil, &noAnswer{srv: srv, timeout: cl.Timeout}
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("context: %w", ctx.Err())
		}
		if d, ok := ctx.Deadline(); timedOut && ok && !time.Now().Before(d) {
			// The read's deadline was ctx's (the caller's shorter one)
			// and fired before ctx's own timer marked it done: the
			// caller's cut all the same, never the socket's "i/o timeout".
			return nil, nil, fmt.Errorf("context: %w", context.DeadlineExceeded)
		}
	}
	return r, p, err
}

// budgetEnd is the context key of the end of a lookup's own bound
// (Budget), set by Lookup.
type budgetEnd struct{}

// ownBound reports whether ctx's deadline is the lookup's own bound
// (Budget), not a caller's shorter one: a wait it ends — a TCP retry
// after a late truncated reply, given what was left of the bound — is
// the server's silence (noAnswer), not a caller's cut.
func ownBound(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	end, own := ctx.Value(budgetEnd{}).(time.Time)
	return ok && own && !d.Before(end)
}

// noAnswer is a server that sent no reply within the client's timeout
// (dns.timeout).
type noAnswer struct {
	srv     string
	timeout time.Duration
}

func (e *noAnswer) Error() string {
	return fmt.Sprintf("no answer from %s within %s (dns.timeout)", e.srv, e.timeout)
}

// exchangeOn is the library's ExchangeWithConnContext (v1.1.73) reading
// the reply's bytes itself: the same deadlines (the client's timeout,
// or ctx's deadline when sooner), replies of another id skipped over
// UDP (answers to an earlier query), a TCP reply of another id an
// error; the reply's bytes returned with it (exchange checks them:
// wholeReply). A reply shorter than a DNS header, or one the library
// cannot parse, is named for what it is (unreadable), never in the
// library's words.
func exchangeOn(ctx context.Context, cl *dns.Client, q *dns.Msg, co *dns.Conn) (*dns.Msg, []byte, error) {
	if opt := q.IsEdns0(); opt != nil && opt.UDPSize() >= dns.MinMsgSize {
		co.UDPSize = opt.UDPSize()
	} else if cl.UDPSize >= dns.MinMsgSize {
		co.UDPSize = cl.UDPSize
	}
	deadline := time.Now().Add(cl.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	co.SetWriteDeadline(deadline)
	co.SetReadDeadline(deadline)
	if err := co.WriteMsg(q); err != nil {
		return nil, nil, err
	}
	_, udp := co.Conn.(net.PacketConn)
	for {
		var p []byte
		if udp {
			p = make([]byte, max(int(co.UDPSize), dns.MinMsgSize))
			n, err := co.Conn.Read(p)
			if err != nil {
				return nil, nil, err
			}
			p = p[:n]
		} else {
			// A connection the server closed before the whole reply is
			// said so, never as the read's bare "EOF" or "unexpected EOF"
			// (TestTCPReplyCutSaidInWords).
			var l [2]byte
			if _, err := io.ReadFull(co.Conn, l[:]); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, nil, errors.New("malformed reply: the server closed the TCP connection before its reply")
				}
				return nil, nil, err
			}
			p = make([]byte, int(l[0])<<8|int(l[1]))
			if n, err := io.ReadFull(co.Conn, p); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, nil, fmt.Errorf("malformed reply: the server closed the TCP connection after %d of its reply's %d bytes", n, len(p))
				}
				return nil, nil, err
			}
		}
		if len(p) < 12 {
			if len(p) == 0 {
				return nil, nil, errors.New("malformed reply: empty (0 bytes, no DNS header)")
			}
			return nil, nil, fmt.Errorf("malformed reply: %d bytes, shorter than a DNS header (12)", len(p))
		}
		r := new(dns.Msg)
		if err := r.Unpack(p); err != nil {
			if !udp || p[2]&0x02 == 0 {
				return nil, nil, unreadable(p)
			}
			// Truncated (TC) where a record was cut: its header alone,
			// so that the question is asked again over TCP, as for any
			// truncated reply (the id is checked as ever).
			r = new(dns.Msg)
			if err := r.Unpack(p[:12]); err != nil {
				return nil, nil, unreadable(p)
			}
		}
		if r.Id != q.Id {
			if udp {
				continue
			}
			return nil, nil, errors.New("reply id mismatch")
		}
		return r, p, nil
	}
}

// rdataMin is the fewest RDATA bytes a whole record of each type umbra
// reads has: its fixed fields, and one byte for a name (the root) or a
// character-string (the empty one).
var rdataMin = map[uint16]struct {
	n    int
	what string
}{
	dns.TypeA:     {4, "an IPv4 address"},
	dns.TypeAAAA:  {16, "an IPv6 address"},
	dns.TypeMX:    {3, "a preference and an exchange name"},
	dns.TypeCNAME: {1, "a name"},
	dns.TypePTR:   {1, "a name"},
	dns.TypeNS:    {1, "a name"},
	dns.TypeTXT:   {1, "a character-string"},
	dns.TypeTLSA:  {3, "a usage, a selector and a matching type"},
	dns.TypeSOA:   {22, "two names and five numbers"},
}

// cutRecord names a record of the answer or authority section of r
// whose RDATA is shorter than a record of its type can be, "" when there
// is none. The DNS library reads a record's fields until the packet
// ends and takes an RDLENGTH of 0 as a record of no fields, with no
// error: an MX of "0014" (a preference, no exchange) as the last bytes
// of a packet came back as an MX of exchange "", which a caller took
// for a null MX and bounced; a TXT of RDLENGTH 0 as a record of no
// text; a TLSA of two bytes as "u s 0" of no data. Such a reply is a
// broken one — a temporary failure, as a SERVFAIL is — never an answer
// (TestCutRecordIsTemporary).
func cutRecord(r *dns.Msg) string {
	for _, sec := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range sec {
			h := rr.Header()
			m, ok := rdataMin[h.Rrtype]
			if !ok || int(h.Rdlength) >= m.n {
				continue
			}
			return fmt.Sprintf("malformed reply: %s record of %s cut short (RDLENGTH %d; its RDATA is %s, at least %d bytes)",
				dns.Type(h.Rrtype).String(), h.Name, h.Rdlength, m.what, m.n)
		}
	}
	return ""
}

// afterDial, when set (tests), runs in ask between the dial and the
// exchange.
var afterDial func(ctx context.Context)

// sameQuestion reports whether r's question section is q's one question:
// the same name on the wire (without ASCII case: a server may echo a
// 0x20-encoded name; wireName, never the text, where the library
// escapes in a reply's name bytes such as "@" the query held plain),
// type and class.
func sameQuestion(r, q *dns.Msg) bool {
	if len(r.Question) != 1 || len(q.Question) != 1 {
		return false
	}
	a, b := r.Question[0], q.Question[0]
	if a.Qtype != b.Qtype || a.Qclass != b.Qclass {
		return false
	}
	an, aok := wireName(a.Name)
	bn, bok := wireName(b.Name)
	return aok && bok && an == bn
}

// rcodeName is a response code as the operator reads it: its name
// (SERVFAIL, REFUSED, BADCOOKIE), or "RCODE n" for a code that has none
// (12–15 and most extended codes are unassigned): never nothing
// (TestEveryRcodeNamed).
func rcodeName(rc int) string {
	if s := dns.RcodeToString[rc]; s != "" {
		return s
	}
	return fmt.Sprintf("RCODE %d", rc)
}

// resolvConf is the system's resolver configuration (a variable for tests).
var resolvConf = "/etc/resolv.conf"

// systemServers reads the name servers of path. As the C library does
// (resolv.conf(5)), a missing file, or one naming no server, means the
// server on this machine.
func systemServers(path string) ([]string, error) {
	local := []string{"127.0.0.1:53", "[::1]:53"}
	cc, err := dns.ClientConfigFromFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return local, nil
	case err != nil:
		return nil, fmt.Errorf("resolver: no servers configured and %s: %w", path, err)
	case len(cc.Servers) == 0:
		return local, nil
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// answerRRs returns the records of type qtype for name in r, following
// CNAMEs inside the answer, the smallest TTL among them, the aliases
// followed (each target, in order), and the name at which the chain
// looped back to one in seen (which it extends), if it did.
func answerRRs(r *dns.Msg, name string, qtype uint16, seen map[string]bool) ([]dns.RR, time.Duration, []string, string) {
	var out []dns.RR
	var chain []string
	ttl := uint32(0)
	target := nameKey(name)
	for range maxCNAMEs + 1 { // bounded CNAME chain
		next, nextName := "", ""
		for _, rr := range r.Answer {
			h := rr.Header()
			if nameKey(h.Name) != target {
				continue
			}
			if h.Rrtype == qtype {
				out = append(out, rr)
				if ttl == 0 || h.Ttl < ttl {
					ttl = h.Ttl
				}
			} else if cn, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				next, nextName = nameKey(cn.Target), cn.Target
			}
		}
		if len(out) > 0 || next == "" {
			break
		}
		if seen[next] {
			return nil, 0, chain, nextName
		}
		seen[next] = true
		chain = append(chain, nextName)
		target = next
	}
	return out, time.Duration(ttl) * time.Second, chain, ""
}

// negativeTTL is RFC 2308 §5's TTL of a denial: the smaller of the TTL of
// the SOA in the authority section and its MINIMUM field; false when the
// response carries no SOA (and so must not be cached by that rule).
func negativeTTL(r *dns.Msg) (time.Duration, bool) {
	for _, rr := range r.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second, true
		}
	}
	return 0, false
}

func dnsError(name, server, msg string, temporary, notFound bool) *net.DNSError {
	// A timeout is a server not answering in time: noAnswer's words, or
	// a transport's "i/o timeout" at their end — never a word anywhere
	// in a message that quotes names from the wire (a CNAME loop
	// through x.timeout.example is no timeout).
	timeout := strings.HasPrefix(msg, "no answer from ") || strings.HasSuffix(msg, "i/o timeout")
	return &net.DNSError{Err: msg, Name: name, Server: server, IsTimeout: temporary && timeout,
		IsTemporary: temporary, IsNotFound: notFound}
}

// ErrPanicked is what a lookup whose goroutine panicked returns (a
// temporary *net.DNSError that unwraps to it, errors.Is): umbra's own
// defect, counted and logged at ERROR where it was recovered — never a
// server's failure, which a caller must not blame a remote for (a DNS
// list "not answered": TestDNSBLResolverPanicBlamesNoList).
var ErrPanicked = errors.New("internal error (recovered panic)")

// panickedError is the error of a lookup of name whose goroutine
// panicked: temporary, never cached, and ErrPanicked (errors.Is).
func panickedError(name string) *net.DNSError {
	e := dnsError(name, "", ErrPanicked.Error(), true, false)
	e.UnwrapErr = ErrPanicked
	return e
}

// panicSink is a lookuper that counts and logs a recovered panic of a
// lookup run for it (Cache).
type panicSink interface {
	recovered(name string, r any, stack []byte)
}

// lookuper is what the net.Resolver-style methods are built on.
type lookuper interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error)
}

// LookupMX implements Resolver: the MX records of name, by preference.
func (c *Client) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return lookupMX(ctx, c, name)
}

// LookupIPAddr implements Resolver: A and AAAA records.
func (c *Client) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return lookupIPAddr(ctx, c, c.hosts, host)
}

// LookupHost implements Resolver.
func (c *Client) LookupHost(ctx context.Context, host string) ([]string, error) {
	return lookupHost(ctx, c, c.hosts, host)
}

// LookupTXT implements Resolver.
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookupTXT(ctx, c, name)
}

// LookupAddr implements Resolver.
func (c *Client) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return lookupAddr(ctx, c, addr)
}

// lookupMX: the MX records of name, by preference.
func lookupMX(ctx context.Context, c lookuper, name string) ([]*net.MX, error) {
	a, err := c.Lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var out []*net.MX
	for _, rr := range a.RRs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	sortMX(out)
	return out, nil
}

// lookupIPAddr: A and AAAA records. It fails only
// when both lookups fail; not found when neither type exists.
func lookupIPAddr(ctx context.Context, c lookuper, hosts *hostsFile, host string) ([]net.IPAddr, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IPAddr{{IP: ip}}, nil
	}
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		// RFC 6761 §6.3: localhost names are loopback, never asked.
		return []net.IPAddr{{IP: net.IPv4(127, 0, 0, 1)}, {IP: net.IPv6loopback}}, nil
	}
	if ips := hosts.lookup(host); len(ips) > 0 {
		out := make([]net.IPAddr, len(ips))
		for i, ip := range ips {
			out[i] = net.IPAddr{IP: ip}
		}
		return out, nil
	}
	// A and AAAA are asked together: an address lookup is one lookup,
	// bounded as one question is (dns.timeout × attempts × servers),
	// not one bound a record type.
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	answers, aerrs := make([]*Answer, len(types)), make([]error, len(types))
	var wg sync.WaitGroup
	for i, t := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A panic of the lookup (a defect) is this type's temporary
			// error, never the daemon's end: counted and logged where
			// the lookuper can (the Cache, which the daemon uses).
			defer func() {
				if r := recover(); r != nil {
					answers[i], aerrs[i] = nil, panickedError(host)
					if p, ok := c.(panicSink); ok {
						p.recovered(host, r, debug.Stack())
					}
				}
			}()
			answers[i], aerrs[i] = c.Lookup(ctx, host, t)
		}()
	}
	wg.Wait()
	var out []net.IPAddr
	var errs []error
	for i := range types {
		a, err := answers[i], aerrs[i]
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range a.RRs {
			switch v := rr.(type) {
			case *dns.A:
				out = append(out, net.IPAddr{IP: v.A})
			case *dns.AAAA:
				out = append(out, net.IPAddr{IP: v.AAAA})
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	// A answered that the name does not exist (NXDOMAIN: no record of
	// any type) denies AAAA too, whatever became of it: the name has no
	// address. The first temporary error was returned here before, so a
	// name that does not exist read as DNS trouble for as long as AAAA
	// could not be asked (front48 item 4). An NXDOMAIN to AAAA alone
	// denies nothing: RFC 4074 §4.2 names servers that answer so for a
	// name whose A record exists, and a failed A beside it stays DNS
	// trouble, retried, never a bounce.
	for i, t := range types {
		if a := answers[i]; t == dns.TypeA && aerrs[i] != nil && a != nil && a.Rcode == dns.RcodeNameError {
			return nil, aerrs[i]
		}
	}
	for _, e := range errs {
		var de *net.DNSError
		if errors.As(e, &de) && de.IsTemporary {
			return nil, e // one type could not be asked, the other no denial of the name
		}
	}
	var a, aaaa *net.DNSError
	if len(errs) == 2 && errors.As(errs[0], &a) && errors.As(errs[1], &aaaa) && strings.HasPrefix(a.Err, "no A record") && strings.HasPrefix(aaaa.Err, "no AAAA record") {
		both := *a // a name with neither type: say so, not only the first
		both.Err = "no A or AAAA record" + strings.TrimPrefix(a.Err, "no A record")
		return nil, &both
	}
	return nil, errs[0]
}

// lookupHost: the addresses of host as strings.
func lookupHost(ctx context.Context, c lookuper, hosts *hostsFile, host string) ([]string, error) {
	ips, err := lookupIPAddr(ctx, c, hosts, host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP.String()
	}
	return out, nil
}

// lookupTXT: each TXT record's strings joined, as the bytes published.
func lookupTXT(ctx context.Context, c lookuper, name string) ([]string, error) {
	a, err := c.Lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(a.RRs))
	for _, rr := range a.RRs {
		out = append(out, txtBytes(strings.Join(rr.(*dns.TXT).Txt, "")))
	}
	return out, nil
}

// txtBytes undoes the presentation format the DNS library keeps a TXT
// string in ("\009" for a tab, "\\" and "\"" for a backslash and a
// quote, "\DDD" for any byte outside printable ASCII): the readers of
// TXT records parse the bytes the domain published.
func txtBytes(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n < 256 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lookupAddr: the PTR names of an address.
func lookupAddr(ctx context.Context, c lookuper, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "not an IP address", Name: addr}
	}
	a, err := c.Lookup(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(a.RRs))
	for _, rr := range a.RRs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, nil
}

func sortMX(mx []*net.MX) {
	for i := 1; i < len(mx); i++ {
		for j := i; j > 0 && mx[j].Pref < mx[j-1].Pref; j-- {
			mx[j], mx[j-1] = mx[j-1], mx[j]
		}
	}
}

// IsDomainName reports whether name (a final dot allowed) can be a
// domain name: at most 255 octets on the wire (253 characters of a name
// without escapes, before the final dot) and non-empty labels of at
// most 63 octets (RFC 1035 §2.3.4), counted as the wire holds them — a
// label written "user2\@s20" is 9 octets. The root (".") is one; "" is
// not. No record can exist at any other name.
func IsDomainName(name string) bool {
	if name == "" {
		return false
	}
	_, ok := wireName(name)
	return ok
}

// wireName is name as the wire holds it (RFC 1035 §3.1: each label
// after its length octet), with its ASCII letters in lower case — the
// one form in which DNS names compare (RFC 4343: without ASCII case,
// every other byte as it is). name is text as the DNS library writes
// it: a dot ends a label, "\." and "\DDD" are one byte, and a byte the
// library escapes when it writes a name it read ("user2\@s20", "o\'b",
// "a\ b") is the same byte unescaped: a name compared as text would
// differ from itself as a reply repeats it (TestNameWithSpecialBytesAnswered).
// ok is false when name is no domain name (an empty label, a label over
// 63 octets, over 255 octets in all).
func wireName(name string) (string, bool) {
	var buf [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false)
	if err != nil || n > 255 {
		return "", false
	}
	b := buf[:n]
	for i, c := range b {
		if 'A' <= c && c <= 'Z' { // a length octet is at most 63, never a letter
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), true
}

// nameKey is wireName's form of name, the key names are compared and
// kept by; a name that is none keeps its text (in lower case), marked
// so that it is never taken for a name's wire form.
func nameKey(name string) string {
	if w, ok := wireName(name); ok {
		return w
	}
	return "\xff" + strings.ToLower(name)
}
