package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/resolver"

	"github.com/miekg/dns"
)

// Sources of a decision, as route explain and the logs name them.
const (
	SourceDANE      = "dane"
	SourceMTASTS    = "mta-sts"
	SourceConnector = "connector"
)

// Store keeps cached MTA-STS policies across restarts (the transport
// database's tlspolicy bucket, queue.Store). Values are opaque to it.
type Store interface {
	GetTLSPolicy(domain string) ([]byte, bool, error)
	PutTLSPolicy(ctx context.Context, domain string, v []byte) error
	TLSPolicyDomains() ([]string, error)
}

// Config configures an Engine.
type Config struct {
	Resolver resolver.Resolver
	// DANE and MTASTS switch the two policy sources on.
	DANE, MTASTS bool
	// RootCAs verifies the policy host's certificate and MX certificates
	// under MTA-STS (nil: the system's roots); SetRoots replaces it.
	RootCAs *x509.CertPool
	// HTTPSPort is where policy hosts are asked (443; tests use another).
	HTTPSPort int
	// FetchTimeout bounds one policy fetch (default 30 s).
	FetchTimeout time.Duration
	Store        Store
	Clock        clock.Clock
	Log          *slog.Logger
	// Report counts each session's outcome for TLS reporting (may be nil).
	Report Reporter
}

// Reporter counts sessions per policy domain for TLS-RPT (RFC 8460).
type Reporter interface {
	Result(policyDomain, policyType, mx, resultType string)
}

// PolicyRecorder is implemented by a Reporter that also keeps the policy
// a domain's sessions were checked against: its policy-string (RFC 8460
// §4.4; Decision.Policy). Counter implements it.
type PolicyRecorder interface {
	Policy(policyDomain, policyType string, policy []string)
}

// RecordPolicy hands policy to r when r keeps policies (PolicyRecorder).
func RecordPolicy(r Reporter, policyDomain, policyType string, policy []string) {
	if pr, ok := r.(PolicyRecorder); ok && len(policy) > 0 {
		pr.Policy(policyDomain, policyType, policy)
	}
}

// Policy types of a TLS report (RFC 8460 §4.3).
const (
	PolicyTLSA     = "tlsa"
	PolicySTS      = "sts"
	PolicyNotFound = "no-policy-found"
)

// Engine decides the TLS policy of a destination: DANE from
// DNSSEC-validated TLSA records first, then MTA-STS (cached), else the
// send connector's own setting (RFC 8461 §2, RFC 7672 §1.3).
type Engine struct {
	cfg   Config
	roots atomic.Pointer[x509.CertPool] // Config.RootCAs, then SetRoots's (nil: the system's)
	http  atomic.Pointer[http.Client]   // verifies against roots

	mu     sync.Mutex
	mem    map[string]*STSPolicy   // cache in front of Store
	failed map[string]FetchFailure // domain → last failed fetch (fetchBackoff)
}

// fetchBackoff is how long a failed policy fetch is not tried again for
// the same TXT id, so that a slow or broken policy host costs one timeout
// per domain every few minutes, not one per delivery attempt. A new id
// is a new policy version and is fetched at once (RFC 8461 §3.3: limit
// retries per version id).
const fetchBackoff = 5 * time.Minute

// FetchFailure is the last failed fetch of a domain's policy.
type FetchFailure struct {
	ID    string    // the TXT id the fetch was for
	At    time.Time // when it failed
	Err   string
	Until time.Time // no new fetch for ID before this
	// Result is the failure's TLS report result type (RFC 8460
	// §4.3.2.3): delivery counts it once per session the failure left
	// without a policy, or blocked (never per fetch: a fetch is no session).
	Result string
}

// New returns an Engine.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPSPort == 0 {
		cfg.HTTPSPort = 443
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 30 * time.Second
	}
	e := &Engine{cfg: cfg, mem: map[string]*STSPolicy{}, failed: map[string]FetchFailure{}}
	e.SetRoots(cfg.RootCAs)
	return e
}

// SetRoots makes roots (nil: the system's) the CA certificates the
// policy host's and the MX hosts' certificates are verified against
// from now on (a reload that read the CA files again); a fetch or a
// session under way keeps the ones it began with.
func (e *Engine) SetRoots(roots *x509.CertPool) {
	tr := &http.Transport{
		TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DialContext:            e.dialPolicyHost,
		ResponseHeaderTimeout:  e.cfg.FetchTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true,
		Proxy:                  nil,
	}
	e.roots.Store(roots)
	e.http.Store(&http.Client{Transport: tr, Timeout: e.cfg.FetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("mta-sts: redirects are not followed") }})
}

// Reporter returns the engine's TLS-RPT counter (nil when none).
func (e *Engine) Reporter() Reporter { return e.cfg.Report }

// dialPolicyHost resolves the policy host through umbra's resolver and
// connects to the configured HTTPS port, its addresses tried in order,
// each with its share of the fetch's deadline (config.DialAddrs). An unspecified address among
// its addresses (0.0.0.0, ::: the domain owner's DNS may say so) is never
// connected to — it reaches this machine itself —, and a name with no
// other fails the fetch naming it (config.UnspecifiedNameError).
func (e *Engine) dialPolicyHost(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := e.cfg.Resolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	ips, dropped := config.DropUnspecified(ips)
	if len(ips) == 0 && dropped != "" {
		return nil, &config.UnspecifiedNameError{Host: host, Addr: dropped}
	}
	var d net.Dialer
	return config.DialAddrs(ctx, &d, network, host, ips, strconv.Itoa(e.cfg.HTTPSPort))
}

// STS returns the MTA-STS policy of domain: the cached one while its TXT
// record's id is unchanged, else a fresh fetch (cached before it is
// used). No record and no cached policy: nil. A fetch that fails with a
// valid cached policy keeps the cached one (RFC 8461 §5.1); without one
// the domain is treated as having no policy, and the failure is
// reported. When DNS could not say whether the domain publishes a
// record (the TXT lookup timed out or failed: not a denial), the cached
// policy stands and the error is ErrSTSLookup, naming that lookup: the
// domain may publish a policy umbra could not see. A failed fetch is
// remembered (LastFetchFailure), not reported: a fetch is no session
// (route explain fetches too); delivery reports it per session.
func (e *Engine) STS(ctx context.Context, domain string) (*STSPolicy, error) {
	if !e.cfg.MTASTS {
		return nil, nil
	}
	domain = mailaddr.NameKey(domain)
	now := e.cfg.Clock.Now()
	cached := e.cached(domain)
	if cached != nil && !now.Before(cached.Expires()) {
		cached = nil
	}
	id, err := e.lookupID(ctx, domain)
	if err != nil {
		var de *net.DNSError
		if !errors.As(err, &de) || de.IsNotFound { // no (single) record: no policy to fetch, none failing
			e.mu.Lock()
			delete(e.failed, domain)
			e.mu.Unlock()
		}
		if errors.As(err, &de) && !de.IsNotFound {
			// DNS could not say: the cache stands (RFC 8461 §5.1), and the
			// caller learns which lookup failed.
			return cached, fmt.Errorf("%w for _mta-sts.%s: %v", ErrSTSLookup, domain, err)
		}
		return cached, nil // no (single) record: the cache stands (RFC 8461 §5.1)
	}
	if cached != nil && cached.ID == id {
		return cached, nil
	}
	e.mu.Lock()
	last, recent := e.failed[domain]
	recent = recent && last.ID == id && now.Before(last.Until) && !now.Before(last.At)
	e.mu.Unlock()
	if recent {
		return cached, nil
	}
	p, err := e.fetch(ctx, domain, id)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up (its message's expiry, the stop), not
			// the policy host: nothing is learnt of the domain, and no
			// other message is to go without its policy for fetchBackoff
			// (rr26: a cut fetch was recorded as the domain's failure).
			return cached, nil
		}
		e.fetchFailed(domain, id, now, err)
		return cached, nil
	}
	return p, nil
}

// fetchFailed remembers a failed fetch of domain's policy version id
// (route explain shows it; the same id is not fetched again for
// fetchBackoff; delivery counts it for the TLS report per session, with
// its result type, when no cached policy stands in) and logs it.
func (e *Engine) fetchFailed(domain, id string, now time.Time, err error) {
	e.mu.Lock()
	if len(e.failed) > 10000 { // bounded: forget them all rather than grow
		clear(e.failed)
	}
	e.failed[domain] = FetchFailure{ID: id, At: now, Err: err.Error(), Until: now.Add(fetchBackoff), Result: fetchResultType(err)}
	e.mu.Unlock()
	e.cfg.Log.Info("mta-sts policy fetch failed", "domain", domain, "id", id, "err", err)
}

// errPolicyInvalid marks a policy file that was fetched but does not
// parse (RFC 8460: sts-policy-invalid; RFC 8461 §3.2: treated as a
// failed fetch, so a cached policy stands).
var errPolicyInvalid = errors.New("invalid policy")

// fetchResultType names a failed fetch for a TLS report (RFC 8460
// §4.3.2.1): the policy host's certificate (sts-webpki-invalid), a
// policy that does not parse (sts-policy-invalid), anything else
// (sts-policy-fetch-error).
func fetchResultType(err error) string {
	var ve *tls.CertificateVerificationError
	var he x509.HostnameError
	var ue x509.UnknownAuthorityError
	var ie x509.CertificateInvalidError
	switch {
	case errors.Is(err, errPolicyInvalid):
		return "sts-policy-invalid"
	case errors.As(err, &ve), errors.As(err, &he), errors.As(err, &ue), errors.As(err, &ie):
		return "sts-webpki-invalid"
	}
	return "sts-policy-fetch-error"
}

// LastFetchFailure is the last failed fetch of domain's policy since the
// last successful one (route explain), false when none.
func (e *Engine) LastFetchFailure(domain string) (FetchFailure, bool) {
	domain = mailaddr.NameKey(domain)
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.failed[domain]
	return f, ok
}

func (e *Engine) lookupID(ctx context.Context, domain string) (string, error) {
	txts, err := e.cfg.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1") {
			id, err := ParseSTSRecord(t)
			if err != nil {
				return "", err
			}
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 { // RFC 8461 §3.1: more than one record is no record
		return "", errors.New("mta-sts: not exactly one STSv1 record")
	}
	return ids[0], nil
}

// fetch gets the policy file over HTTPS (the host's certificate verified
// for mta-sts.DOMAIN), parses it and caches it durably.
func (e *Engine) fetch(ctx context.Context, domain, id string) (*STSPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.FetchTimeout)
	defer cancel()
	// What the fetch was waiting for when it gave up: a hung policy host
	// is named with the step it did not answer (the error of a timeout
	// alone says only "context deadline exceeded").
	var phase atomic.Value
	phase.Store("connecting")
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				phase.Store("TLS handshake")
			}
		},
		TLSHandshakeDone:     func(tls.ConnectionState, error) { phase.Store("sending the request") },
		WroteRequest:         func(httptrace.WroteRequestInfo) { phase.Store("waiting for the response") },
		GotFirstResponseByte: func() { phase.Store("reading the response") },
	})
	hung := func(err error) error {
		var ne net.Error
		if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
			return err
		}
		// In words alone: the error the cut gave the request ("Get
		// \"https://…\": context deadline exceeded") says nothing more
		// (TestHungPolicyHostSaidInWords).
		return fmt.Errorf("policy host mta-sts.%s port %d did not answer within %s (%s)", domain, e.cfg.HTTPSPort,
			e.cfg.FetchTimeout, phase.Load())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.http.Load().Do(req)
	if err != nil {
		return nil, hung(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("policy host answered %s", resp.Status)
	}
	if ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), "text/plain") {
		return nil, fmt.Errorf("policy media type %q, not text/plain", ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicySize+1))
	if err != nil {
		return nil, hung(err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPolicyInvalid, err)
	}
	p.ID, p.Fetched = id, e.cfg.Clock.Now()
	if p.Mode == ModeNone || p.MaxAge == 0 {
		// none tells senders to drop a cached policy; keep that fact too
	}
	e.mu.Lock()
	e.mem[domain] = p
	delete(e.failed, domain)
	e.mu.Unlock()
	if e.cfg.Store != nil {
		if err := e.cfg.Store.PutTLSPolicy(ctx, domain, p.encode()); err != nil {
			e.cfg.Log.Warn("mta-sts policy not cached", "domain", domain, "err", err)
		}
	}
	return p, nil
}

// cached returns the policy in memory, else in the store.
func (e *Engine) cached(domain string) *STSPolicy {
	e.mu.Lock()
	p := e.mem[domain]
	e.mu.Unlock()
	if p != nil || e.cfg.Store == nil {
		return p
	}
	b, ok, err := e.cfg.Store.GetTLSPolicy(domain)
	if err != nil || !ok {
		return nil
	}
	p, err = decodeSTS(b)
	if err != nil {
		return nil
	}
	e.mu.Lock()
	e.mem[domain] = p
	e.mu.Unlock()
	return p
}

// Cached is the stored policy of domain without any lookup (route
// explain), nil when none is cached or it expired.
func (e *Engine) Cached(domain string) *STSPolicy {
	p := e.cached(mailaddr.NameKey(domain))
	if p == nil || !e.cfg.Clock.Now().Before(p.Expires()) {
		return nil
	}
	return p
}

// Refresh fetches again every cached policy that is past half its
// max_age (RFC 8461 §5.1: refresh before expiry, so a policy in use
// never lapses while its domain keeps publishing it). It returns how
// many it refreshed. Run it periodically (serve does, hourly).
func (e *Engine) Refresh(ctx context.Context) int {
	if e.cfg.Store == nil || !e.cfg.MTASTS {
		return 0
	}
	domains, err := e.cfg.Store.TLSPolicyDomains()
	if err != nil {
		return 0
	}
	n := 0
	now := e.cfg.Clock.Now()
	for _, d := range domains {
		if ctx.Err() != nil {
			break
		}
		p := e.cached(d)
		if p == nil || now.Before(p.Fetched.Add(p.MaxAge/2)) {
			continue
		}
		id, err := e.lookupID(ctx, d)
		if err != nil {
			continue
		}
		if _, err := e.fetch(ctx, d, id); err == nil {
			n++
		} else {
			e.fetchFailed(d, id, now, err) // the cached policy stands
		}
	}
	return n
}

// Decision is the TLS policy for one host of a destination.
type Decision struct {
	Source       string // SourceDANE, SourceMTASTS or SourceConnector
	Mode         string // MTA-STS mode; "dane" or "dane-unusable" for DANE
	PolicyDomain string
	PolicyType   string // for TLS-RPT: tlsa, sts, no-policy-found
	// Require: TLS is mandatory for this host.
	Require bool
	// Verify authenticates the session (nil: no authentication).
	Verify func(tls.ConnectionState) error
	// Enforce: a Verify failure refuses the host; else it is reported
	// and the session goes on (MTA-STS testing).
	Enforce bool
	Detail  string
	// Policy is the policy as a TLS report's policy-string gives it
	// (RFC 8460 §4.4): the TLSA records ("3 1 1 HEX") for tlsa, the
	// MTA-STS policy's lines for sts.
	Policy []string
}

// Verified reports whether a session under the decision is
// authenticated before mail is sent (REQUIRETLS, RFC 8689 §4.2.1).
func (d *Decision) Verified() bool { return d != nil && d.Verify != nil && d.Require }

// MXSecure reports whether the MX RRset of domain was DNSSEC-validated
// (RFC 7672 §2.2.1: DANE applies only to MX hosts found securely). A
// domain with no MX record (implicit MX: it is its own host) counts as
// secure when the denial of its MX records (NODATA) and its own address
// records were validated (RFC 7672 §2.2.2): its TLSA records then apply
// as an MX host's do (rt18a F1).
func (e *Engine) MXSecure(ctx context.Context, domain string) bool {
	secure, _ := e.MXSecurity(ctx, domain)
	return secure
}

// MXSecurity is MXSecure, and whether the domain has no MX record
// (implicit: the domain itself is the host DANE applies to).
func (e *Engine) MXSecurity(ctx context.Context, domain string) (secure, implicit bool) {
	if !e.cfg.DANE {
		return false, false
	}
	domain = mailaddr.NameKey(domain)
	a, err := e.cfg.Resolver.Lookup(ctx, domain, dns.TypeMX)
	if a == nil {
		return false, false
	}
	if err == nil {
		return a.Secure, false
	}
	if !isNotFound(err) || a.Rcode != dns.RcodeSuccess {
		return false, false // NXDOMAIN: no domain, no DANE host
	}
	return a.Secure && e.addressesSecure(ctx, domain), true
}

// addressesSecure: host has address records and every family that has
// some was DNSSEC-validated (through its CNAME chain, every step).
func (e *Engine) addressesSecure(ctx context.Context, host string) bool {
	found := false
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		a, err := e.cfg.Resolver.Lookup(ctx, host, t)
		switch {
		case err == nil && a != nil && !a.Secure:
			return false
		case err == nil && a != nil:
			found = true
		}
	}
	return found
}

// ErrSTSLookup is an MTA-STS TXT lookup that did not answer (a timeout,
// SERVFAIL): whether the domain publishes a policy is unknown.
var ErrSTSLookup = errors.New("MTA-STS TXT lookup failed")

// ErrDANELookup is a TLSA lookup that failed in a signed zone: the host
// must not be used without its TLSA records (RFC 7672 §2.2).
var ErrDANELookup = errors.New("TLSA lookup failed")

// Host decides the policy for one MX host of domain, reached on port.
// mxSecure is MXSecure(domain) (for a domain without MX, the host is the
// domain itself, secure when the MX denial and its address records were
// validated). DANE first: the
// TLSA records at _PORT._tcp of the host's TLSA base domain (tlsaBases:
// for an alias, the CNAME-expanded name first when the chain is secure);
// secure usable records make TLS mandatory and authenticated by them;
// secure records none of which is usable make TLS mandatory and
// unauthenticated. Then MTA-STS (sts, from STS): enforce authenticates
// the host by its name against RootCAs and refuses it when that fails;
// testing checks and reports only. Nil: the connector's setting applies.
func (e *Engine) Host(ctx context.Context, domain string, mxSecure bool, host string, port int, sts *STSPolicy) (*Decision, error) {
	host, domain = mailaddr.NameKey(host), mailaddr.NameKey(domain)
	if e.cfg.DANE && mxSecure {
		for _, base := range e.tlsaBases(ctx, host) {
			name := fmt.Sprintf("_%d._tcp.%s", port, base)
			a, err := e.cfg.Resolver.Lookup(ctx, name, dns.TypeTLSA)
			var de *net.DNSError
			switch {
			case err == nil && a.Secure:
				var recs []*dns.TLSA
				usable := 0
				for _, rr := range a.RRs {
					if t, ok := rr.(*dns.TLSA); ok {
						recs = append(recs, t)
						if usableTLSA(t) {
							usable++
						}
					}
				}
				via := ""
				if base != host {
					via = " (CNAME of " + host + ")"
				}
				d := &Decision{Source: SourceDANE, Mode: "dane", PolicyDomain: domain, PolicyType: PolicyTLSA, Require: true, Enforce: true,
					Detail: fmt.Sprintf("%d TLSA records at %s%s (%d usable)", len(recs), name, via, usable)}
				for _, r := range recs {
					d.Policy = append(d.Policy, fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, r.Certificate))
				}
				if usable == 0 {
					d.Mode = "dane-unusable" // mandatory, unauthenticated TLS
					return d, nil
				}
				// RFC 7672 §3.2.3: the TLSA base domain, the MX host name
				// and the destination domain name the server.
				names := []string{base}
				for _, n := range []string{host, domain} {
					if !slices.Contains(names, n) {
						names = append(names, n)
					}
				}
				clk := e.cfg.Clock
				d.Verify = func(cs tls.ConnectionState) error { return VerifyDANE(cs, recs, names, clk.Now()) }
				return d, nil
			case err == nil || errors.As(err, &de) && de.IsNotFound:
				// insecure, or securely no TLSA: not at this name
			default:
				return nil, fmt.Errorf("%w for %s: %v", ErrDANELookup, name, err)
			}
		}
	}
	if sts != nil && sts.Mode != ModeNone {
		roots, clk := e.roots.Load(), e.cfg.Clock
		d := &Decision{Source: SourceMTASTS, Mode: sts.Mode, PolicyDomain: domain, PolicyType: PolicySTS,
			Require: sts.Mode == ModeEnforce, Enforce: sts.Mode == ModeEnforce,
			Detail: fmt.Sprintf("policy id %s, mx %s, fetched %s, expires %s", sts.ID, strings.Join(sts.MX, ","),
				sts.Fetched.UTC().Format(time.RFC3339), sts.Expires().UTC().Format(time.RFC3339)),
			Policy: sts.Strings()}
		d.Verify = func(cs tls.ConnectionState) error { return VerifyPKIX(cs, roots, host, clk.Now()) }
		return d, nil
	}
	return nil, nil
}

// tlsaBases are the names whose TLSA records apply to host, in the
// order they are tried (RFC 7672 §2.2.2): none for a host whose address
// records are not DNSSEC-validated — it is no DANE host, and its TLSA
// records are not even asked for (a secure TLSA RRset cannot sit in an
// unsigned zone, and some unsigned zones' servers fail TLSA queries,
// which would defer its mail for ever); for a host whose address records
// are reached through a CNAME chain every step of which was validated,
// the expanded name, then the host's own; through a chain with an
// insecure step, the host's own only (an attacker could have chosen the
// expanded name), and only when the host's own CNAME was validated; for
// a host that is no alias, itself. A lookup that failed says nothing:
// the host's own name, whose TLSA lookup decides.
func (e *Engine) tlsaBases(ctx context.Context, host string) []string {
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		a, err := e.cfg.Resolver.Lookup(ctx, host, t)
		switch {
		case a == nil:
			return []string{host} // the lookup failed: the connection's own lookup decides
		case len(a.CNAMEs) == 0 && err == nil:
			if !a.Secure {
				return nil // address records not validated: no DANE (RFC 7672 §2.2.2)
			}
			return []string{host}
		case len(a.CNAMEs) == 0:
			continue // no such record: the other family may say more
		case a.Secure:
			return []string{mailaddr.NameKey(a.CNAMEs[len(a.CNAMEs)-1]), host}
		}
		if c, err := e.cfg.Resolver.Lookup(ctx, host, dns.TypeCNAME); err == nil && c != nil && c.Secure {
			return []string{host} // a validated alias into an insecure zone: its own name
		}
		return nil
	}
	return []string{host}
}

// ResultType names a failure for a TLS report (RFC 8460 §4.3.2): a
// host without STARTTLS (not offered, refused) is
// starttls-not-supported; a certificate failure is named by its cause
// (host mismatch, expired, not trusted); a certificate no TLSA record
// matches, a failed handshake and anything else are validation-failure
// (RFC 8460's "general failure": tlsa-invalid is for TLSA records none
// of which is usable, dnssec-invalid for a TLSA lookup that failed).
func ResultType(d *Decision, err error) string {
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var ue x509.UnknownAuthorityError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errNoSTARTTLS):
		return "starttls-not-supported"
	case errors.Is(err, ErrDANEMismatch):
		return "validation-failure"
	case errors.As(err, &he):
		return "certificate-host-mismatch"
	case errors.As(err, &ie) && ie.Reason == x509.Expired:
		return "certificate-expired"
	case errors.As(err, &ue), errors.As(err, &ie):
		return "certificate-not-trusted"
	case errors.Is(err, ErrDANELookup):
		return "dnssec-invalid"
	}
	return "validation-failure"
}

// errNoSTARTTLS marks a host that offered no TLS (NoSTARTTLS wraps it).
var errNoSTARTTLS = errors.New("starttls not supported")

// NoSTARTTLS wraps err as a host that did not offer or refused STARTTLS.
func NoSTARTTLS(err error) error { return fmt.Errorf("%w: %w", errNoSTARTTLS, err) }

// Describe says why a TLS session under d failed, as replies, DSNs and
// logs show it: the policy's verification error (verr) when there is
// one, else the session's error (STARTTLS not offered, refused, the
// handshake failed). host is the MX host name the certificate was
// checked for.
func Describe(d *Decision, host string, verr, err error) string {
	e := verr
	if e == nil {
		e = err
	}
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var ue x509.UnknownAuthorityError
	var ne *DANENameError
	switch {
	case e == nil:
		return "TLS failed"
	case errors.Is(e, ErrDANEMismatch):
		return ErrDANEMismatch.Error()
	case errors.As(e, &he) && d != nil && d.Source == SourceMTASTS:
		return "certificate does not match the policy's MX name " + host + " (" + he.Error() + ")"
	case errors.As(e, &ne) && len(ne.Names) == 1:
		return "certificate under the TLSA trust anchor does not name " + ne.Names[0] + " (it is " + ne.ValidFor() + ")"
	case errors.As(e, &ne):
		return "certificate under the TLSA trust anchor names none of " + strings.Join(ne.Names, ", ") + " (it is " + ne.ValidFor() + ")"
	case errors.As(e, &he) && d != nil && d.Source == SourceDANE:
		return "certificate under the TLSA trust anchor does not name " + host + " (" + he.Error() + ")"
	case errors.As(e, &he):
		return "certificate does not match " + host + " (" + he.Error() + ")"
	case errors.As(e, &ie) && ie.Reason == x509.Expired:
		return "certificate expired or not yet valid (" + ie.Error() + ")"
	case errors.As(e, &ue):
		return "certificate not trusted: unknown issuer"
	case errors.As(e, &ie):
		return "certificate not trusted (" + ie.Error() + ")"
	case verr != nil:
		return "certificate not accepted: " + verr.Error()
	}
	return err.Error() // STARTTLS not offered / refused / TLS handshake failed, from the client
}

// CachedValid counts the cached policies still valid (not past
// Fetched+MaxAge): the umbra_tls_policy_cached metric. An expired entry
// stays in the store until its domain is fetched again, and is not in
// force, so it is not counted.
func (e *Engine) CachedValid() int {
	if e.cfg.Store == nil {
		return 0
	}
	domains, err := e.cfg.Store.TLSPolicyDomains()
	if err != nil {
		return 0
	}
	n := 0
	for _, d := range domains {
		if e.Cached(d) != nil {
			n++
		}
	}
	return n
}
