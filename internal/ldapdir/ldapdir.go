package ldapdir

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/panicline"
	"umbra/internal/recipients"
)

// Config configures a Directory. Zero durations and sizes take the
// defaults of package config.
type Config struct {
	URL      string // ldap://host:port or ldaps://host:port
	StartTLS bool
	// TLS verifies the directory (ldaps:// and StartTLS); nil: the system
	// roots and the URL's host name.
	TLS *tls.Config

	BindDN, BindPassword string // the service account; "" DN: anonymous
	BaseDN               string

	RecipientFilter     string // %s: the escaped address
	DatabaseAttribute   string // "" : no database assignment
	AccountFilter       string // %s: the escaped user name; "": no accounts
	ServerAccountFilter string // matched on the account's entry

	Timeout                  time.Duration
	PositiveTTL, NegativeTTL time.Duration
	CacheSize                int

	Clock clock.Clock
	// AwaitPeer, when set, is told that a lookup now waits on the
	// directory (a cache miss), on the lookup's context; the function it
	// returns is called when the wait ends. A delivery attempt's context
	// uses it to mark the wait as the peer's time (queue.AwaitingPeer).
	AwaitPeer func(context.Context) (done func())
	// LookupHost finds the addresses of the URL's host name at each
	// dial: the server's resolver (the dns section, its hosts_file
	// first), as every lookup of the server is; nil: the system's (a
	// check outside the daemon).
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Registerer gets the directory's metrics (nil: none).
	Registerer prometheus.Registerer
}

// Errors of Authenticate.
var (
	// ErrBadCredentials: the directory answered, and name and password
	// are not an account's.
	ErrBadCredentials = errors.New("invalid credentials")
	// ErrUnavailable wraps every failure to get an answer: the caller
	// answers with a temporary error, never with acceptance. It wraps
	// recipients.ErrDirectoryFailure (RCPT gets 451 4.4.3).
	ErrUnavailable = fmt.Errorf("ldap %w", recipients.ErrDirectoryFailure)
	// ErrAmbiguous: several entries match account_filter for one name.
	// A fault of the directory, not a wrong password: it wraps
	// ErrUnavailable (454 4.7.0, not counted against the name), and no
	// password is checked, as no entry is the name's.
	ErrAmbiguous = fmt.Errorf("%w: several entries match account_filter", ErrUnavailable)
)

// redialPause: after a failed connection attempt, lookups fail at once
// for this long instead of each waiting for its own attempt.
const redialPause = time.Second

// Directory is an LDAP directory answering for recipients, accounts and
// mailbox databases. Safe for concurrent use.
type Directory struct {
	cfg   Config
	tls   *tls.Config
	cache *cache
	m     *dirMetrics

	mu        sync.Mutex // guards conn and downUntil (dialing is under it)
	conn      *ldap.Conn // the service connection, shared by searches
	downUntil time.Time

	authMu   sync.Mutex // serialises user binds on authConn
	authConn *ldap.Conn

	panics panicline.Gate // a search's recovered panic: one line a minute
	log    *slog.Logger   // its line (SetLogger); nil: counted only

	// recipientAs and accountAs are the items of the filters a hit is
	// verified against (match.go).
	recipientAs, accountAs []assertion

	// dummyDN is bound to when an AUTH name has no entry, so that an
	// unknown name costs a bind like a known one.
	dummyDN string

	// lookupHost finds the addresses of the URL's host name at each dial
	// (Config.LookupHost).
	lookupHost func(ctx context.Context, host string) ([]string, error)
}

// MaxPacketBytes bounds one LDAP message read from the directory (and
// each element in it). go-ldap's BER reader allows 2 GiB by default and
// grows its buffer with what the directory sends; a directory that
// announces more than this gets an error at the packet's header, its
// connection is dropped and the lookup is ErrUnavailable. 8 MiB holds a
// recipient or account entry with thousands of addresses; umbra asks for
// a few attributes of one entry at a time (Active Directory's own
// MaxReceiveBuffer is 10 MiB).
const MaxPacketBytes = 8 << 20

// boundPackets sets the BER reader's bound, a process-wide variable of
// go-asn1-ber, once, before the first connection is made.
var boundPackets sync.Once

// New returns a Directory. It does not connect: the first lookup does,
// so that a directory that is down at start delays nothing but the
// lookups (which get CannotDecide).
func New(cfg Config) (*Directory, error) {
	boundPackets.Do(func() { ber.MaxPacketLengthBytes = MaxPacketBytes })
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, fmt.Errorf("ldap url %q: want ldap:// or ldaps://", cfg.URL)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 100000
	}
	if cfg.RecipientFilter == "" {
		cfg.RecipientFilter = "(mail=%s)"
	}
	recipientAs := Assertions(cfg.RecipientFilter)
	if len(recipientAs) == 0 {
		return nil, fmt.Errorf("ldap recipient_filter %q: no equality item (attr=%%s) to verify a hit against", cfg.RecipientFilter)
	}
	accountAs := Assertions(cfg.AccountFilter)
	if cfg.AccountFilter != "" && len(accountAs) == 0 {
		return nil, fmt.Errorf("ldap account_filter %q: no equality item (attr=%%s) to verify a hit against", cfg.AccountFilter)
	}
	t := cfg.TLS
	if t == nil {
		t = &tls.Config{}
	} else {
		t = t.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = u.Hostname()
	}
	if t.MinVersion == 0 {
		t.MinVersion = tls.VersionTLS12
	}
	return &Directory{cfg: cfg, tls: t, cache: newCache(cfg.CacheSize), m: newDirMetrics(cfg.Registerer),
		recipientAs: recipientAs, accountAs: accountAs,
		dummyDN: "cn=umbra-no-such-account," + cfg.BaseDN, lookupHost: lookupHostOf(cfg)}, nil
}

// lookupHostOf is cfg.LookupHost, or the system's resolver without one.
func lookupHostOf(cfg Config) func(ctx context.Context, host string) ([]string, error) {
	if cfg.LookupHost != nil {
		return cfg.LookupHost
	}
	return net.DefaultResolver.LookupHost
}

// Close drops the connections.
func (d *Directory) Close() error {
	d.mu.Lock()
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	d.mu.Unlock()
	d.authMu.Lock()
	if d.authConn != nil {
		d.authConn.Close()
		d.authConn = nil
	}
	d.authMu.Unlock()
	return nil
}

// dial opens a connection (TLS as configured) and binds it as bindDN
// when given. The whole of it — connect, TLS handshake, StartTLS and its
// handshake, bind — is bounded by deadline, the question's (one
// timeout for the whole question, of which the dial is a part): a deadline on the
// connection itself, since go-ldap bounds its requests but not the
// StartTLS handshake, and a directory that agrees to StartTLS and then
// says nothing would otherwise hold the dial (and every lookup queued
// behind the service connection's lock) for good.
func (d *Directory) dial(deadline time.Time, bindDN, password string) (*ldap.Conn, error) {
	u, err := url.Parse(d.cfg.URL)
	if err != nil {
		return nil, err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
	}
	raw, err := d.connect(deadline, host, port)
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(deadline)
	// A step that fails once the deadline passed failed for it, whatever
	// error go-ldap makes of that: its reader's read error reaches a
	// pending StartTLS or Bind as a plain error ("unable to read LDAP
	// response packet: … i/o timeout", no net.Error in it), which would
	// otherwise not say it was the directory not answering in time. It
	// is marked (os.ErrDeadlineExceeded), not worded: the question's
	// error says it in words, once (unavailable).
	timedOut := func(err error) error {
		if time.Now().Before(deadline) || errors.Is(err, os.ErrDeadlineExceeded) || directoryAnswered(err) {
			return err
		}
		return pastDeadline{err}
	}
	nc := raw
	if u.Scheme == "ldaps" {
		tc := tls.Client(raw, d.tls)
		if err := tc.Handshake(); err != nil {
			raw.Close()
			return nil, fmt.Errorf("tls: %w", timedOut(err))
		}
		nc = tc
	}
	if d.cfg.StartTLS {
		// umbra's own StartTLS exchange (startTLS), not go-ldap's,
		// which swaps the connection under it: the replies on the TLS
		// connection are read through the framer as on any other.
		tc, err := startTLS(raw, d.tls)
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("starttls: %w", timedOut(err))
		}
		nc = tc
	}
	c := ldap.NewConn(&replyFramer{Conn: nc}, u.Scheme == "ldaps" || d.cfg.StartTLS)
	c.Start()
	c.SetTimeout(d.cfg.Timeout)
	if bindDN != "" {
		if err := c.Bind(bindDN, password); err != nil {
			c.Close()
			return nil, fmt.Errorf("bind as service account: %w", timedOut(err))
		}
	}
	raw.SetDeadline(time.Time{}) // from now on each request has its own timeout, and its question's bound
	return c, nil
}

// connect opens the TCP connection to host (an address, or a name whose
// addresses are tried in order, each its share of the deadline as Go's
// dialer of a name gives it: config.DialAddrs), by deadline. The unspecified address
// (0.0.0.0, ::), refused at load as ldap.url's host, is never connected
// to when a name resolves to it either — it reaches this machine, not
// the directory —, and a name with no other is refused naming it
// (config.UnspecifiedNameError): the lookup is unavailable.
func (d *Directory) connect(deadline time.Time, host, port string) (net.Conn, error) {
	dl := &net.Dialer{Deadline: deadline}
	if net.ParseIP(host) != nil {
		return dl.Dial("tcp", net.JoinHostPort(host, port))
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	addrs, err := d.lookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	addrs, dropped := config.DropUnspecified(addrs)
	if len(addrs) == 0 && dropped != "" {
		return nil, &config.UnspecifiedNameError{Host: host, Addr: dropped}
	}
	return config.DialAddrs(ctx, dl, "tcp", host, addrs, port)
}

// service returns the shared service connection, dialing it (by
// deadline) if there is none (or it was closed); reused reports an
// existing one.
func (d *Directory) service(deadline time.Time) (c *ldap.Conn, reused bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil && !d.conn.IsClosing() {
		return d.conn, true, nil
	}
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	if now := d.cfg.Clock.Now(); now.Before(d.downUntil) {
		return nil, false, errors.New("directory unreachable (retrying shortly)")
	}
	if !time.Now().Before(deadline) {
		// The question's time ran out while it waited for this lock:
		// no dial, and the directory is not marked down for it.
		return nil, false, fmt.Errorf("no time left to connect: %w", os.ErrDeadlineExceeded)
	}
	c, err = d.dial(deadline, d.cfg.BindDN, d.cfg.BindPassword)
	if err != nil {
		d.downUntil = d.cfg.Clock.Now().Add(redialPause)
		d.m.reconnects.WithLabelValues("failed").Inc()
		return nil, false, err
	}
	d.m.reconnects.WithLabelValues("connected").Inc()
	d.conn = c
	return c, false, nil
}

// drop forgets a connection that failed, so that the next lookup dials.
func (d *Directory) drop(c *ldap.Conn) {
	d.mu.Lock()
	if d.conn == c {
		d.conn = nil
	}
	d.mu.Unlock()
	c.Close()
}

// connectionLost tells a transport failure (the connection is unusable)
// from an answer of the directory.
func connectionLost(c *ldap.Conn, err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return true
	}
	return le.ResultCode == ldap.ErrorNetwork || le.ResultCode == ldap.LDAPResultServerDown ||
		le.ResultCode == ldap.LDAPResultTimeout || c.IsClosing()
}

// search runs one search on the service connection within ctx's
// deadline (the question's one timeout): a dial it needs ends by then,
// the directory is asked to give up by then (the request's time limit),
// and the answer is waited for until then. A reused connection that
// turns out dead (the directory restarted) is dropped and the search
// retried once on a new one, while time is left.
func (d *Directory) search(ctx context.Context, req *ldap.SearchRequest) ([]*ldap.Entry, error) {
	type answer struct {
		entries []*ldap.Entry
		err     error
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(d.cfg.Timeout)
	}
	req.TimeLimit = max(int(time.Until(deadline)/time.Second), 1)
	ch := make(chan answer, 1)
	go func() { // bounded by the deadline and the connection's request timeout
		defer func() {
			// A panic here (a defect, in go-ldap's reading of the
			// directory's answer say: outside input) is recovered: the
			// directory's lock is unlocked by defer (service, drop), so
			// none is held. The lookup is the directory unavailable
			// (451 at RCPT, never accept-all), the panic counted and
			// logged once a minute, and the service connection, maybe
			// out of step, dropped (TestDirectorySearchPanicRecovered).
			if r := recover(); r != nil {
				stack := debug.Stack()
				d.m.panics.Inc()
				if line, ok := d.panics.Attrs(time.Now(), r, stack); ok && d.log != nil {
					d.log.Error("ldap search panicked", line...)
				}
				d.mu.Lock()
				c := d.conn
				d.conn = nil
				d.mu.Unlock()
				if c != nil {
					c.Close()
				}
				ch <- answer{nil, errPanicked}
			}
		}()
		if searchSeam != nil {
			searchSeam()
		}
		e, err := d.searchOnce(deadline, req)
		ch <- answer{e, err}
	}()
	select {
	case a := <-ch:
		return a.entries, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SetLogger sets where a search's recovered panic is logged (at ERROR);
// before, it is only counted. Called once, before the directory is used.
func (d *Directory) SetLogger(log *slog.Logger) { d.log = log }

// searchSeam, when set (tests only), runs on a search's goroutine before
// it asks: a test makes it panic there.
var searchSeam func()

// bindSeam, when set (tests only), runs on a bind's goroutine before
// the bind (a stand-in for a panic of go-ldap's).
var bindSeam func()

func (d *Directory) searchOnce(deadline time.Time, req *ldap.SearchRequest) ([]*ldap.Entry, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := d.service(deadline)
		if err != nil {
			return nil, err
		}
		res, err := c.Search(req)
		if err == nil {
			if len(res.Entries) == 0 && len(res.Referrals) > 0 {
				// The directory's answer is elsewhere (a continuation
				// reference, RFC 4511 §4.5.3), on a server umbra does
				// not ask: no entry here is no answer.
				return nil, resultError{&ldap.Error{ResultCode: ldap.LDAPResultReferral, Err: fmt.Errorf(
					"only a reference to %s, which umbra does not follow", strings.Join(res.Referrals, ", "))}}
			}
			return res.Entries, nil
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil && len(res.Entries) > 0 {
			return res.Entries, nil
		}
		// Every other result the directory answered — noSuchObject for
		// a base_dn it does not hold, a referral, insufficientAccess —
		// is a search that failed, never one that found nothing: only
		// success (0) with no entry is "not found"
		// (TestSlapdErrorResultIsNoAnswer).
		if !connectionLost(c, err) {
			return nil, answered(err)
		}
		d.drop(c)
		if !reused || attempt > 0 || !time.Now().Before(deadline) {
			return nil, err
		}
	}
}

// filter substitutes the escaped value (RFC 4515) for every %s.
func filter(pattern, value string) string {
	return strings.ReplaceAll(pattern, "%s", ldap.EscapeFilter(value))
}

// recipientFilter is pattern for address: for an address whose domain
// is internationalised, the filter for each of its forms
// (mailaddr.AddrForms: as given, the A-label, the U-label) joined by
// "|", since the directory compares by its own rules and may hold the
// address in either form (mail is an IA5 string: the A-label only);
// matches then keeps what is the address.
func recipientFilter(pattern, address string) string {
	forms := mailaddr.AddrForms(address)
	if len(forms) == 1 {
		return filter(pattern, address)
	}
	var b strings.Builder
	b.WriteString("(|")
	for _, f := range forms {
		b.WriteString(filter(pattern, f))
	}
	b.WriteString(")")
	return b.String()
}

func (d *Directory) request(base string, scope int, f string, attrs []string) *ldap.SearchRequest {
	if len(attrs) == 0 {
		attrs = []string{"1.1"} // no attributes (RFC 4511 §4.5.1.8)
	}
	secs := int(d.cfg.Timeout / time.Second)
	return ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 2, max(secs, 1), false, f, attrs, nil)
}

// recipient is what the directory says about one address.
type recipient struct {
	found    bool
	database string // "" when none is set
	// ambiguous: several entries with different databases.
	ambiguous bool
}

// lookup finds an address through the cache.
func (d *Directory) lookup(ctx context.Context, address string) (recipient, error) {
	key := cacheKey(address)
	now := d.cfg.Clock.Now()
	if r, ok := d.cache.get(key, now); ok {
		d.m.lookups.WithLabelValues("cache").Inc()
		return r, nil
	}
	attrs := attributes(d.recipientAs)
	if d.cfg.DatabaseAttribute != "" {
		attrs = append(attrs, d.cfg.DatabaseAttribute)
	}
	// One timeout bounds the whole question — dial, TLS, bind, search
	// and its answer — whatever the caller's context allows.
	if d.cfg.AwaitPeer != nil {
		defer d.cfg.AwaitPeer(ctx)()
	}
	parent := ctx
	ctx, cancel, unavailable := d.question(ctx)
	defer cancel()
	found, err := d.search(ctx, d.request(d.cfg.BaseDN, ldap.ScopeWholeSubtree, recipientFilter(d.cfg.RecipientFilter, address), attrs))
	if err != nil {
		d.m.lookups.WithLabelValues(failure(parent, err)).Inc()
		return recipient{}, unavailable(err)
	}
	// Only entries holding the address itself (ASCII case and the form
	// of an internationalised domain aside): the directory's matching
	// rule may have folded a non-ASCII character.
	var entries []*ldap.Entry
	for _, e := range found {
		if matches(e, d.recipientAs, address, mailaddr.AddrKey) {
			entries = append(entries, e)
		}
	}
	r := recipient{found: len(entries) > 0}
	for i, e := range entries {
		db := ""
		if d.cfg.DatabaseAttribute != "" {
			db = e.GetAttributeValue(d.cfg.DatabaseAttribute)
		}
		if i > 0 && db != r.database {
			r.ambiguous = true
		}
		r.database = db
	}
	ttl := d.cfg.NegativeTTL
	result := "not_found"
	if r.found {
		ttl, result = d.cfg.PositiveTTL, "found"
	}
	d.m.lookups.WithLabelValues(result).Inc()
	if ttl > 0 {
		d.cache.put(key, r, now.Add(ttl))
	}
	return r, nil
}

// errPanicked is the error of a search or bind whose goroutine
// panicked (recovered: umbra's defect, umbra_ldap_panics_total).
// It wraps recipients.ErrInternal: umbra's fault, which a session says
// in its own words (451 4.3.0), never the directory's failure.
var errPanicked = fmt.Errorf("%w (recovered panic)", recipients.ErrInternal)

// failure is the metrics' result of a question that got no answer
// (err): "panicked" when its goroutine panicked, umbra's defect
// (TestDirectorySearchPanicCountedPanickedNotError); "cancelled" when
// its caller ended it (parent cancelled: umbra's stop, the session
// gone, a delivery attempt cut); neither is a failure of the
// directory's; "error" otherwise — the directory not answering in time
// included (TestDirectoryQuestionCallerEndedCountedCancelled).
func failure(parent context.Context, err error) string {
	switch {
	case errors.Is(err, errPanicked):
		return "panicked"
	case errors.Is(parent.Err(), context.Canceled):
		return "cancelled"
	}
	return "error"
}

// question bounds one question to the directory: parent, cut at
// ldap.timeout from now. Its unavailable words the question's failure
// (Directory.unavailable), knowing which of the two deadlines bounds it.
func (d *Directory) question(parent context.Context) (context.Context, context.CancelFunc, func(error) error) {
	own := time.Now().Add(d.cfg.Timeout)
	ctx, cancel := context.WithDeadline(parent, own)
	return ctx, cancel, func(err error) error { return d.unavailable(parent, own, err) }
}

// unavailable wraps a failure to get an answer in ErrUnavailable; one
// that is the directory not answering in time (the dial's deadline, a
// request's timeout, the question's own bound) wraps
// context.DeadlineExceeded as well, so that a caller can say so, and
// says it in words, once, so that the log tells a slow directory from a
// broken connection: "no answer within 5s (ldap.timeout)" when the
// question's own deadline own bounds it, and "cut off by the caller"
// with the cause (context.Cause) when parent's shorter deadline — the
// session's, a delivery's — or its end cut it first.
func (d *Directory) unavailable(parent context.Context, own time.Time, err error) error {
	if errors.Is(err, errPanicked) {
		// umbra's own defect: no answer, and said as umbra's fault
		// (recipients.ErrInternal), never in the directory's words.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var ne net.Error
	// A step that failed once the question's time was up failed for
	// it, whatever error it got (a connection another question's
	// timeout closed under it: "ldap: connection closed"), as a dial's
	// step does (pastDeadline).
	// A result the directory sent (its code below go-ldap's own, 200
	// and up) is its answer, however late it is handled: an invalid
	// service password is no slow directory.
	late := (!time.Now().Before(own) || parent.Err() != nil) && !directoryAnswered(err)
	if late || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() ||
		ldap.IsErrorWithCode(err, ldap.LDAPResultTimeLimitExceeded) || ldap.IsErrorWithCode(err, ldap.LDAPResultTimeout) ||
		// go-ldap words its own timeouts and wraps some transport
		// errors (the StartTLS handshake's) with %v, not %w:
		ldap.IsErrorWithCode(err, ldap.ErrorNetwork) && (strings.Contains(err.Error(), "timed out") || strings.Contains(err.Error(), "i/o timeout")) {
		// The caller is blamed only when its deadline has passed (or it
		// ended), not merely for being the shorter one: a directory's own
		// time-limit result or a network timeout before it is the
		// directory's.
		if pd, ok := parent.Deadline(); ok && pd.Before(own) && !time.Now().Before(pd) || parent.Err() != nil {
			cause := context.Cause(parent)
			if cause == nil { // its deadline reached, its timer not yet fired
				cause = context.DeadlineExceeded
			}
			return fmt.Errorf("%w: %w", ErrUnavailable, cutOff{cause: cause, err: err})
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, timedOut{after: d.cfg.Timeout, err: err})
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, ownWords(err))
}

// cutOff is a question the caller's context ended (cause) before the
// directory answered and before ldap.timeout: context.DeadlineExceeded
// and cause (errors.Is), worded for the log.
type cutOff struct {
	cause, err error
}

// Error says the cut once: never with the error the cut connection gave
// the step it cut (err), which go-ldap may hand back before the
// context's own end is seen — its request timeout ("LDAP Result Code
// 200 \"Network Error\": ldap: connection timed out"), a read's "i/o
// timeout" — a race whose outcome the log line must not show.
func (e cutOff) Error() string {
	return fmt.Sprintf("cut off by the caller before an answer (%v)", e.cause)
}

func (e cutOff) Unwrap() []error { return []error{context.DeadlineExceeded, e.cause} }

// resultError is a result the directory answered with, other than
// success, in umbra's words: "the directory answered result 32 (No
// Such Object)", and the directory's diagnostic message when it sent
// one — not go-ldap's `LDAP Result Code 32 "No Such Object": ` with
// nothing after it. It is the *ldap.Error (errors.As).
type resultError struct{ le *ldap.Error }

func (e resultError) Error() string {
	msg := fmt.Sprintf("the directory answered result %d (%s)", e.le.ResultCode, ldap.LDAPResultCodeMap[e.le.ResultCode])
	if e.le.Err != nil && e.le.Err.Error() != "" {
		msg += ": " + e.le.Err.Error()
	}
	return msg
}

func (e resultError) Unwrap() error { return e.le }

// answered words err as resultError when it is a result the directory
// sent (directoryAnswered), and leaves it as it is otherwise.
func answered(err error) error {
	var le *ldap.Error
	if directoryAnswered(err) && errors.As(err, &le) {
		return resultError{le}
	}
	return err
}

// directoryAnswered reports whether err is a result the directory sent
// (an LDAP result code of the protocol's, below go-ldap's own client
// codes from ErrorNetwork, 200, up): its answer, not the wait's end.
func directoryAnswered(err error) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork
}

// pastDeadline is a step of a dial that failed once the question's
// deadline had passed: os.ErrDeadlineExceeded too (errors.Is), worded
// as the step's own error.
type pastDeadline struct{ error }

func (e pastDeadline) Unwrap() []error { return []error{e.error, os.ErrDeadlineExceeded} }

// timedOut is a question the directory did not answer within after: it
// is context.DeadlineExceeded (errors.Is), worded for the log.
type timedOut struct {
	after time.Duration
	err   error
}

// Error says the timeout once, as cutOff does: the question's deadline
// and go-ldap's own request timeout end the wait together, and which
// reaches unavailable first (the library's "connection timed out", a
// read's "i/o timeout", or the context) is a race; the words are the
// same whatever won (TestTimeoutSaidOnceWhenDirectoryFreezes).
func (e timedOut) Error() string {
	return fmt.Sprintf("no answer within %s (ldap.timeout)", e.after)
}

func (e timedOut) Unwrap() error { return context.DeadlineExceeded }

// Lookup implements recipients.Directory: an address with an entry is
// Known, one without is Unknown (the directory is complete for the
// domains it serves), and a directory that cannot answer gives
// CannotDecide — never acceptance.
func (d *Directory) Lookup(ctx context.Context, address string) (recipients.Verdict, error) {
	r, err := d.lookup(ctx, address)
	switch {
	case err != nil:
		return recipients.CannotDecide, err
	case r.found:
		return recipients.Known, nil
	}
	return recipients.Unknown, nil
}

// MailboxDatabase names the mailbox database the directory assigns to
// an address: found is false when the address has no entry or the entry
// no database; an error when the directory cannot answer or the entries
// of the address disagree.
func (d *Directory) MailboxDatabase(ctx context.Context, address string) (db string, found bool, err error) {
	if d.cfg.DatabaseAttribute == "" {
		return "", false, nil
	}
	r, err := d.lookup(ctx, address)
	switch {
	case err != nil:
		return "", false, err
	case r.ambiguous:
		return "", false, fmt.Errorf("%w: several entries of %s name different mailbox databases", ErrUnavailable, address)
	}
	return r.database, r.database != "", nil
}

// CachedMailboxDatabase is MailboxDatabase from the cache alone, without
// I/O: known is false when the address has no cached answer (or its
// entries disagree), and only asking the directory can tell.
func (d *Directory) CachedMailboxDatabase(address string) (db string, found, known bool) {
	if d.cfg.DatabaseAttribute == "" {
		return "", false, true
	}
	r, ok := d.cache.get(cacheKey(address), d.cfg.Clock.Now())
	if !ok || r.ambiguous {
		return "", false, false
	}
	return r.database, r.database != "", true
}

// HasAccounts reports whether the directory holds SMTP accounts.
func (d *Directory) HasAccounts() bool { return d.cfg.AccountFilter != "" }

// HasServer reports whether the directory can hold transport server
// accounts.
func (d *Directory) HasServer() bool {
	return d.cfg.AccountFilter != "" && d.cfg.ServerAccountFilter != ""
}

// Authenticate verifies an AUTH name and password by binding as the
// entry AccountFilter finds for the name (RFC 4513 §5.1.3): the
// directory checks the password with its own hash scheme, umbra never
// reads a password attribute, and the service account needs no right on
// one. Results are never cached. An empty password is refused before
// anything is sent (an empty simple bind is an unauthenticated bind,
// which succeeds without checking anything, RFC 4513 §5.1.2).
// ErrBadCredentials when the directory said no; an error wrapping
// ErrUnavailable when it could not say.
func (d *Directory) Authenticate(ctx context.Context, name, password string) (server bool, err error) {
	_, server, err = d.AuthenticateUser(ctx, name, password)
	return server, err
}

// AuthenticateUser is Authenticate, and also returns the canonical
// identity of the account: the value of the naming attribute of the
// entry's DN as the directory stores it (uid=carol,ou=people,… →
// "carol"). The directory matches name by its equality rules, which
// for the usual uid and mail attributes ignore case and leading,
// trailing and repeated spaces: "carol", " carol" and "CAROL  " all
// bind as the same entry. Everything that keys on the user after the
// AUTH (rate limits, logs, the server-id binding) must use the identity,
// never the name as typed, or each variant would be a new user.
//
// The name must be the entry's own (match.go): a name the directory
// folds to the entry beyond ASCII case and spaces ("\uff43arol") is
// refused whatever the password. A refusal (ErrBadCredentials) of a name
// that resolved to exactly one account (a wrong password, or such a
// folded name) returns that account's identity too, for the log's record
// of which account was guessed at and for the AUTH throttle's count; any
// other refusal returns "". Two entries for the name are ErrAmbiguous.
func (d *Directory) AuthenticateUser(ctx context.Context, name, password string) (user string, server bool, err error) {
	server, dn, err := d.authenticate(ctx, name, password)
	switch {
	case errors.Is(err, ErrBadCredentials) && dn != "":
		return Identity(dn), false, err
	case err != nil:
		return "", false, err
	}
	return Identity(dn), server, nil
}

// Account reports whether an account that authenticated earlier is
// still one: name as it was given at AUTH, user the identity
// AuthenticateUser returned for it. Found when, as at that AUTH,
// exactly one entry matches account_filter for name, name is the
// entry's own and the entry's identity is user; server when it also
// matches server_account_filter. A removed entry, or one the filter no
// longer matches (an account disabled by an attribute the filter
// tests), is found false. The name is asked, not the identity: the
// identity is the entry's naming value (uid=carol → "carol"), which
// need not be what account_filter matches ((mail=%s)). No password is
// checked and nothing is cached here (the caller keeps the verdicts it
// needs). An error wrapping ErrUnavailable when the directory could not
// say.
func (d *Directory) Account(ctx context.Context, name, user string) (found, server bool, err error) {
	if d.cfg.AccountFilter == "" || name == "" || user == "" {
		return false, false, nil
	}
	ctx, cancel, unavailable := d.question(ctx)
	defer cancel()
	entries, err := d.search(ctx, d.request(d.cfg.BaseDN, ldap.ScopeWholeSubtree, filter(d.cfg.AccountFilter, name), attributes(d.accountAs)))
	if err != nil {
		return false, false, unavailable(err)
	}
	if len(entries) != 1 || Identity(entries[0].DN) != user || !matches(entries[0], d.accountAs, collapseSpaces(name), mailaddr.Fold) {
		return false, false, nil
	}
	if d.cfg.ServerAccountFilter != "" {
		e, err := d.search(ctx, d.request(entries[0].DN, ldap.ScopeBaseObject, d.cfg.ServerAccountFilter, nil))
		if err != nil {
			return false, false, unavailable(err)
		}
		server = len(e) == 1
	}
	return true, server, nil
}

// cacheKey is an address as umbra compares it (mailaddr.AddrKey): ASCII
// case folded and an internationalised domain as its A-label, nothing
// else. The directory may take variants with spaces (leading, trailing,
// U+00A0) for the same entry; each is its own cache entry and its own
// verdict (matches), so no variant inherits the answer of the address
// it looks like.
func cacheKey(address string) string {
	return mailaddr.AddrKey(address)
}

// Identity is the value of the first RDN of dn as written (the naming
// attribute of the entry), or dn itself when it does not parse.
func Identity(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 || p.RDNs[0].Attributes[0].Value == "" {
		return dn
	}
	return p.RDNs[0].Attributes[0].Value
}

func (d *Directory) authenticate(ctx context.Context, name, password string) (server bool, entryDN string, err error) {
	if d.cfg.AccountFilter == "" || password == "" || name == "" {
		return false, "", ErrBadCredentials
	}
	// One timeout bounds the whole AUTH: the search for the account,
	// the bind as its entry and the server-account search.
	parent := ctx
	ctx, cancel, unavailable := d.question(ctx)
	defer cancel()
	found, err := d.search(ctx, d.request(d.cfg.BaseDN, ldap.ScopeWholeSubtree, filter(d.cfg.AccountFilter, name), attributes(d.accountAs)))
	if err != nil {
		d.m.auths.WithLabelValues(failure(parent, err)).Inc()
		return false, "", unavailable(err)
	}
	if len(found) > 1 {
		// Two entries claim the name: no password decides which one is
		// meant. The directory's fault, answered as one that cannot
		// answer; the DNs are for the operator.
		d.m.auths.WithLabelValues("error").Inc()
		return false, "", fmt.Errorf("%w (%d or more entries, among them %s and %s)", ErrAmbiguous, len(found), found[0].DN, found[1].DN)
	}
	// The name must be the entry's own (a value of an attribute the
	// filter names, ASCII case and extra spaces aside). A name the
	// directory only folded to the entry (fullwidth letters, KELVIN
	// SIGN) is refused whatever the password — without binding, at the
	// cost of a bind to the dummy DN like an unknown name — but names
	// the entry, so that the throttle counts it against the account.
	// A login name is no mailbox: ASCII spaces around it are forgiven
	// (a name typed with one is still the account's, rt16); a NO-BREAK
	// or ideographic space is not (rt26 F2).
	dn, own := d.dummyDN, len(found) == 1 && matches(found[0], d.accountAs, collapseSpaces(name), mailaddr.Fold)
	if own {
		dn = found[0].DN
	}
	ok, err := d.bindAs(ctx, dn, password)
	if err != nil {
		d.m.auths.WithLabelValues(failure(parent, err)).Inc()
		return false, "", unavailable(err)
	}
	if !ok || !own {
		d.m.auths.WithLabelValues("refused").Inc()
		if len(found) == 1 {
			return false, found[0].DN, ErrBadCredentials // the account guessed at
		}
		return false, "", ErrBadCredentials
	}
	if d.cfg.ServerAccountFilter != "" {
		e, err := d.search(ctx, d.request(dn, ldap.ScopeBaseObject, d.cfg.ServerAccountFilter, nil))
		if err != nil {
			d.m.auths.WithLabelValues(failure(parent, err)).Inc()
			return false, "", unavailable(err)
		}
		server = len(e) == 1
	}
	d.m.auths.WithLabelValues("accepted").Inc()
	return server, dn, nil
}

// bindAs binds as dn on the authentication connection, which is kept
// for the next AUTH (a bind replaces the identity of the last one).
// false: the directory refused the credentials.
func (d *Directory) bindAs(ctx context.Context, dn, password string) (bool, error) {
	type answer struct {
		ok  bool
		err error
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(d.cfg.Timeout)
	}
	ch := make(chan answer, 1)
	go func() {
		// The answer of a recovered panic is sent once the lock is
		// unlocked (deferred calls run last first), so the AUTH that
		// reads it finds the lock free.
		panicked := false
		defer func() {
			if panicked {
				ch <- answer{false, errPanicked}
			}
		}()
		d.authMu.Lock()
		defer d.authMu.Unlock()
		defer func() {
			// A panic here (a defect, in go-ldap's reading of the bind's
			// answer say) is recovered as a search's is: the lock is
			// unlocked by the defer above, the AUTH is the directory
			// unavailable (454, never a success), the panic counted
			// and logged once a minute — never the DN or the password —
			// and the bind connection, maybe out of step, dropped
			// (TestDirectoryBindPanicRecovered).
			if r := recover(); r != nil {
				stack := debug.Stack()
				d.m.panics.Inc()
				if line, ok := d.panics.Attrs(time.Now(), r, stack); ok && d.log != nil {
					d.log.Error("ldap bind panicked", line...)
				}
				if d.authConn != nil {
					d.authConn.Close()
					d.authConn = nil
				}
				panicked = true
			}
		}()
		if bindSeam != nil {
			bindSeam()
		}
		for attempt := 0; ; attempt++ {
			reused := d.authConn != nil && !d.authConn.IsClosing()
			if !reused {
				if d.authConn != nil {
					d.authConn.Close()
				}
				c, err := d.dial(deadline, "", "")
				if err != nil {
					d.authConn = nil
					ch <- answer{false, err}
					return
				}
				d.authConn = c
			}
			err := d.authConn.Bind(dn, password)
			switch {
			case err == nil:
				ch <- answer{true, nil}
				return
			case ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
				ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultNoSuchObject):
				ch <- answer{false, nil}
				return
			}
			lost := connectionLost(d.authConn, err)
			if lost {
				d.authConn.Close()
				d.authConn = nil
			}
			if !lost || !reused || attempt > 0 || !time.Now().Before(deadline) {
				ch <- answer{false, err}
				return
			}
		}
	}()
	select {
	case a := <-ch:
		return a.ok, a.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
