package recipients

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"umbra/internal/mailaddr"
)

// Verifier asks the next hop of an address whether it would accept it
// (package delivery's Deliverer: EHLO, MAIL FROM:<>, RCPT TO, RSET,
// QUIT). A 2xx is Known, a 5xx Unknown; anything else (4xx, no answer,
// no route) is CannotDecide with an error — a *RcptDeferred for the next
// hop's 4xx to RCPT TO itself. reply is the next hop's reply.
type Verifier interface {
	Verify(ctx context.Context, address string) (v Verdict, reply string, err error)
}

// Entry is a remembered callout answer.
type Entry struct {
	Known   bool
	Checked time.Time
	Reply   string // the next hop's reply, for the refusal text and logs
}

// Cache keeps callout answers across restarts (the transport database's
// rcptcache bucket, package queue). Keys are Callout.key's
// (mailaddr.AddrKey's for an authoritative domain, the local part exact
// for any other); for an authoritative domain an earlier release's
// (mailaddr.EarlierKeys) are read too.
type Cache interface {
	GetRecipient(address string) (Entry, bool, error)
	// PutRecipient keeps at most max entries (max > 0), evicting
	// negative answers first, then the oldest positive ones.
	PutRecipient(ctx context.Context, address string, e Entry, max int) error
	// PruneRecipients deletes positive entries checked before pos and
	// negative ones checked before neg.
	PruneRecipients(ctx context.Context, pos, neg time.Time) (int, error)
}

// CalloutConfig configures a Callout. Zero durations take the defaults.
type CalloutConfig struct {
	Verifier Verifier
	Cache    Cache
	// PositiveTTL and NegativeTTL: how long an answer is used without
	// asking again (default 7 days and 3 hours).
	PositiveTTL, NegativeTTL time.Duration
	// Timeout bounds one whole callout — its lookups, every host tried,
	// each connect and command — not each step (default 30 s).
	Timeout time.Duration
	// MaxConcurrent bounds callouts in flight (default 10): a flood of
	// random recipients cannot become a flood of sessions to the hubs.
	MaxConcurrent int
	// MaxEntries bounds the answers kept (default 100000): random
	// addresses in RCPTs alone cannot grow the cache without bound.
	MaxEntries int
	// Now is the clock (tests fake it); default time.Now.
	Now func() time.Time
	// Key is the comparison key of an address, as RCPT's recipient set
	// compares (smtp.Server.RcptKey): mailaddr.AddrKey's for a domain
	// this organisation is authoritative for (its mailboxes compare in
	// ASCII case), the local part exact elsewhere. An answer is kept
	// under it. nil: mailaddr.RcptKey with no domain authoritative.
	Key func(address string) string
}

// Defaults of CalloutConfig.
const (
	DefaultPositiveTTL   = 7 * 24 * time.Hour
	DefaultNegativeTTL   = 3 * time.Hour
	DefaultTimeout       = 30 * time.Second
	DefaultMaxConcurrent = 10
	DefaultMaxEntries    = 100000
	// StaleFactor: an answer past its TTL still decides while the next
	// hop cannot answer, until it is StaleFactor TTLs old; then it is
	// pruned.
	StaleFactor = 4
)

// Callout is the address-verification source: a fresh cached answer decides; otherwise the next hop is
// asked and its answer cached; when the next hop cannot answer, a stale
// cached answer still decides, and only an address never answered gets
// CannotDecide.
type Callout struct {
	cfg  CalloutConfig
	sem  chan struct{}
	mu   sync.Mutex
	busy map[string]*call // one callout per address at a time
}

type call struct {
	done chan struct{}
	v    Verdict
	err  error
}

// NewCallout returns a Callout.
func NewCallout(cfg CalloutConfig) *Callout {
	if cfg.PositiveTTL <= 0 {
		cfg.PositiveTTL = DefaultPositiveTTL
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Callout{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), busy: map[string]*call{}}
}

func (c *Callout) ttl(known bool) time.Duration {
	if known {
		return c.cfg.PositiveTTL
	}
	return c.cfg.NegativeTTL
}

func verdictOf(known bool) Verdict {
	if known {
		return Known
	}
	return Unknown
}

// Lookup implements Directory.
func (c *Callout) Lookup(ctx context.Context, address string) (Verdict, error) {
	key := c.key(address)
	now := c.cfg.Now()
	e, cached, err := c.cached(key, address)
	if err != nil {
		cached = false // a cache that cannot be read: ask the next hop
	}
	age := now.Sub(e.Checked)
	if cached && age >= 0 && age < c.ttl(e.Known) {
		return verdictOf(e.Known), nil
	}
	v, err := c.ask(ctx, address, key)
	if v != CannotDecide {
		return v, nil
	}
	if rf := (*Refusal)(nil); errors.As(err, &rf) && !rf.Temporary() {
		return CannotDecide, err // an answer, just not about the mailbox's existence
	}
	if cached && age < StaleFactor*c.ttl(e.Known) {
		// The next hop cannot answer, or answered only "not now" (a
		// 4xx: a hub whose own directory is down says so for every
		// address): the last answer decides.
		return verdictOf(e.Known), nil
	}
	return CannotDecide, err // a temporary Refusal: passed on
}

// Refused learns from a delivery that the next hop refused address for
// good with a 5.1.x reply (bad mailbox or address) although a cached
// positive answer accepted it: a mailbox deleted since it was verified.
// The positive answer is replaced by a negative one, so the next RCPT
// for it is refused at once (550) instead of accepted and bounced. Only
// an address the callout answered positively is touched: the cache
// learns nothing about addresses it never verified. It reports whether
// the answer changed.
func (c *Callout) Refused(ctx context.Context, address, reply string) bool {
	if !mailboxRefusal(reply) {
		return false
	}
	key := c.key(address)
	e, cached, err := c.cached(key, address)
	if err != nil || !cached || !e.Known {
		return false
	}
	return c.cfg.Cache.PutRecipient(ctx, key, Entry{Known: false, Checked: c.cfg.Now(), Reply: reply}, c.cfg.MaxEntries) == nil
}

// key is the cache key of address: mailaddr.AddrKey for a domain this
// organisation is authoritative for (Owned), whose mailboxes compare in
// ASCII case; for any other the local part exactly as written, the
// domain by its key (mailaddr.RcptKey): only the destination interprets
// a local part there (RFC 5321 §2.4), and td@'s answer is not TD@'s.
func (c *Callout) key(address string) string {
	if c.cfg.Key == nil {
		return mailaddr.RcptKey(strings.TrimSuffix(address, "."), false)
	}
	return c.cfg.Key(address)
}

// cached is the remembered answer for address, kept under key
// (Callout.key), else, where key is mailaddr.AddrKey's (a domain this
// organisation is authoritative for; elsewhere a local part with no
// ASCII capital, which folding leaves as it is), under a key an earlier
// release wrote (mailaddr.EarlierKeys: the address lower-cased or
// ASCII-folded, an internationalised domain as written — each then this
// same mailbox). A new answer is written under key alone; the earlier
// entry ages out with its TTL. Another domain's answers an earlier
// release kept folded from another spelling are not read (they may be
// another mailbox's): the address is asked again.
func (c *Callout) cached(key, address string) (Entry, bool, error) {
	e, ok, err := c.cfg.Cache.GetRecipient(key)
	if ok || err != nil || key != mailaddr.AddrKey(strings.TrimSuffix(address, ".")) {
		return e, ok, err
	}
	for _, k := range mailaddr.EarlierKeys(address) {
		if e, ok, err = c.cfg.Cache.GetRecipient(k); ok || err != nil {
			return e, ok, err
		}
	}
	return e, false, nil
}

// mailboxRefusal: a 5xx reply whose enhanced code is 5.1.x (RFC 3463:
// addressing status), "550 5.1.1 …" — the address does not exist.
func mailboxRefusal(reply string) bool {
	code, rest, _ := strings.Cut(reply, " ")
	return len(code) == 3 && code[0] == '5' && strings.HasPrefix(rest, "5.1.")
}

// Refusal is the error of a CannotDecide verdict whose next hop refused
// the address with a 5xx reply that does not say the mailbox does not
// exist (its enhanced code is not 5.1.x: a full mailbox, a policy
// refusal, or no enhanced code at all), or with a 4xx reply (Temporary:
// 452 4.2.2 mailbox full, 451 4.3.0). It is not cached; the SMTP
// session passes the next hop's code and enhanced code on. A temporary
// one yields to a stale cached answer (Lookup), as no answer does.
type Refusal struct {
	Code     int    // 400–599
	Enhanced [3]int // the code's class; {class, 0, 0} when the reply had none
	Text     string // the next hop's text, printable ASCII, at most maxRefusalText
	// NotAsked: the next hop was not asked; the reply is the one its
	// delivery would get there (ErrNextHopNoSMTPUTF8), not the hop's.
	NotAsked bool
}

// ErrNextHopNoSMTPUTF8 is the error a Verifier gives with an Unknown
// verdict it reached without asking: the address needs SMTPUTF8 and its
// next hop does not offer it, so the reply is the 553 5.6.7 a delivery
// to it would get there, and the hop never saw the address.
var ErrNextHopNoSMTPUTF8 = errors.New("the next hop does not support SMTPUTF8: not asked")

// Temporary reports whether the refusal is a 4xx.
func (r *Refusal) Temporary() bool { return r.Code < 500 }

// RcptDeferred is the error of a CannotDecide verdict a Verifier gives
// when the next hop answered RCPT TO with a 4xx reply: an answer about
// this address, for now — not the failures of the session around it
// (no route, no address, a refused MAIL, a lost connection), whose
// replies are umbra's or say nothing of the address.
type RcptDeferred struct{ Reply string }

func (e *RcptDeferred) Error() string { return "RCPT TO answered " + e.Reply }

func (r *Refusal) Error() string {
	return fmt.Sprintf("the next hop refused it: %d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
}

// maxRefusalText bounds the next hop's text passed on.
const maxRefusalText = 200

// parseRefusal reads a 5xx or 4xx reply ("552 5.2.2 mailbox full",
// "452 4.2.2 mailbox full") as the Verifier gives it: its code, an
// enhanced code of the same class, and its text made printable ASCII on
// one line and bounded (maxRefusalText).
func parseRefusal(reply string) *Refusal {
	class := 5
	if strings.HasPrefix(reply, "4") {
		class = 4
	}
	r := &Refusal{Code: class*100 + 50, Enhanced: [3]int{class, 0, 0}}
	code, rest, _ := strings.Cut(reply, " ")
	if n, err := strconv.Atoi(code); err == nil && len(code) == 3 && n/100 == class {
		r.Code = n
	}
	if r.Code == 421 {
		// The hop closes its channel to umbra: passed on as is, it
		// would tell the sender that umbra closes this session, which
		// goes on (RFC 5321 §3.8). A 451 keeps the enhanced code.
		r.Code = 451
	}
	if ec, text, ok := strings.Cut(rest, " "); ok || ec != "" {
		if e, good := enhancedCode(ec); good && e[0] == class {
			r.Enhanced, rest = e, text
		}
	}
	t := strings.Map(func(c rune) rune {
		if c < 0x20 || c > 0x7e {
			return ' '
		}
		return c
	}, rest)
	if len(t) > maxRefusalText {
		t = t[:maxRefusalText]
	}
	r.Text = strings.TrimSpace(t)
	return r
}

// enhancedCode parses "c.s.d" (RFC 3463: class one digit, subject and
// detail up to three digits).
func enhancedCode(s string) ([3]int, bool) {
	var e [3]int
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return e, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || len(p) == 0 || len(p) > 3 || n < 0 || (i == 0 && len(p) != 1) {
			return e, false
		}
		e[i] = n
	}
	return e, true
}

// ask runs one callout for key, sharing it with concurrent askers.
func (c *Callout) ask(ctx context.Context, address, key string) (Verdict, error) {
	c.mu.Lock()
	if cl := c.busy[key]; cl != nil {
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.v, cl.err
		case <-ctx.Done():
			return CannotDecide, ctx.Err()
		}
	}
	cl := &call{done: make(chan struct{})}
	c.busy[key] = cl
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.busy, key)
		c.mu.Unlock()
		close(cl.done)
	}()

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		cl.v, cl.err = CannotDecide, errors.New("too many recipient callouts in flight")
		return cl.v, cl.err
	}
	v, reply, err := c.cfg.Verifier.Verify(ctx, address)
	// A probe cut off by a context is said so here, in words, not as
	// the error the closed connection gave the step it cut off: the
	// Verifier words only its connection's own failures.
	if v == CannotDecide && parent.Err() != nil {
		// The caller's shorter deadline (the session's), or its end.
		cl.v, cl.err = CannotDecide, fmt.Errorf("recipient callout cut off by the caller: %w", context.Cause(parent))
		return cl.v, cl.err
	}
	if v == CannotDecide && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// recipients.callout.timeout ran out.
		cl.v, cl.err = CannotDecide, fmt.Errorf("recipient callout timed out after %s (recipients.callout.timeout)", c.cfg.Timeout)
		return cl.v, cl.err
	}
	if rd := (*RcptDeferred)(nil); v == CannotDecide && errors.As(err, &rd) {
		// A full mailbox for now, a hub's "try later": not cached; the
		// sender gets the next hop's code (Refusal), unless a stale
		// answer decides (Lookup).
		cl.v, cl.err = CannotDecide, parseRefusal(rd.Reply)
		return cl.v, cl.err
	}
	if v == Unknown && !mailboxRefusal(reply) {
		// A full mailbox, a policy refusal: the mailbox may well
		// exist, so this is no unknown address to remember for
		// negative_ttl; the sender gets the next hop's reply.
		rf := parseRefusal(reply)
		rf.NotAsked = errors.Is(err, ErrNextHopNoSMTPUTF8)
		cl.v, cl.err = CannotDecide, rf
		return cl.v, cl.err
	}
	switch v {
	case Known, Unknown:
		// A failed write loses only the memory of the answer; the answer
		// stands.
		_ = c.cfg.Cache.PutRecipient(context.WithoutCancel(ctx), key, Entry{Known: v == Known, Checked: c.cfg.Now(), Reply: reply}, c.cfg.MaxEntries)
		cl.v, cl.err = v, nil
	default:
		if err == nil {
			err = fmt.Errorf("callout: %s", reply)
		}
		cl.v, cl.err = CannotDecide, err
	}
	return cl.v, cl.err
}

// Prune deletes answers too old to decide even while the next hop is
// down (StaleFactor TTLs), so that a flood of random addresses does not
// grow the cache without bound.
func (c *Callout) Prune(ctx context.Context) (int, error) {
	now := c.cfg.Now()
	return c.cfg.Cache.PruneRecipients(ctx, now.Add(-StaleFactor*c.cfg.PositiveTTL), now.Add(-StaleFactor*c.cfg.NegativeTTL))
}
