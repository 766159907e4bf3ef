package connfilter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
	"umbra/internal/mailaddr"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/panicline"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// Options are what the checks share with the server.
type Options struct {
	Resolver resolver.Resolver
	Log      *slog.Logger
	Metrics  *Metrics // nil: none
	// Warnings rate-limits the log lines about misconfigured lists; one
	// per server, so that reloads do not reset it. nil: a new one.
	Warnings *Limiter
	// Timeout bounds the DNS work of one check (default 10 s).
	Timeout time.Duration
	// Panics gates the log lines of recovered panics (panicline); one
	// per server, like Warnings. nil: a new one.
	Panics *panicline.Gate
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Warnings == nil {
		o.Warnings = NewLimiter(nil, time.Minute)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Panics == nil {
		o.Panics = &panicline.Gate{}
	}
}

// Limiter lets one log line per key through per interval, and keeps the
// episodes of failures of each key (Failed, Answered).
type Limiter struct {
	clk      clock.Clock
	every    time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	episodes map[string]*episode
	// inForce: the DNS list zones the configuration in force asks (set
	// by KeepLists; nil before the first call); retired: the zones a
	// reload took out and none has put back since. A lookup of a
	// retired list that ends late — a connection accepted before the
	// reload, asking with the checks it was built with — keeps no state
	// of it: Failed, Answered and Allow tell it nothing to write, so the
	// list put back is a new one all the same
	// (TestDNSBLLateLookupOfRemovedListKeepsNoState).
	inForce, retired map[string]bool
}

// episode is a key's failures since its first, until it has answered a
// whole interval past its last failure.
type episode struct {
	warned        time.Time // the episode's last WARN
	lastFail      time.Time
	failures      int  // the episode's failures
	suppressed    int  // failures not warned of since warned
	answeredSince bool // an answer came after lastFail
}

// NewLimiter returns a Limiter on clk (nil: the system clock).
func NewLimiter(clk clock.Clock, every time.Duration) *Limiter {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Limiter{clk: clk, every: every, last: map[string]time.Time{}, episodes: map[string]*episode{}}
}

// Episode is what Failed and Answered tell the caller to log of a key's
// failures: the rule of umbra's per-resource warnings (a full disk's,
// package smtp's storageLog) — the first failure of an episode at once,
// then at most one WARN an interval carrying the failures not warned of
// (Suppressed), and the episode's end with its count (Failures) at the
// first answer an interval or more past its last failure (an answer
// sooner does not end it: a list failing for most queries answers some,
// and each would end and begin an episode, a WARN each). An episode
// answered since its last failure and failing again an interval or more
// on ends then, before the new one's WARN.
type Episode struct {
	Warn       bool // write the failure's WARN now
	Suppressed int  // with Warn: the failures not warned of since the last
	Ended      bool // write the end of an episode now
	Failures   int  // with Ended: its failures
}

// Failed notes a failure of key.
func (l *Limiter) Failed(key string) Episode {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isRetired(key) {
		return Episode{}
	}
	now := l.clk.Now()
	var out Episode
	e := l.episodes[key]
	if e != nil && e.answeredSince && now.Sub(e.lastFail) >= l.every {
		out.Ended, out.Failures = true, e.failures
		e = nil
	}
	if e == nil {
		if len(l.episodes) > 1000 { // keys are zones: bounded, but be safe
			clear(l.episodes)
		}
		e = &episode{}
		l.episodes[key] = e
		out.Warn = true
	}
	e.failures++
	e.lastFail, e.answeredSince = now, false
	if !out.Warn && now.Sub(e.warned) < l.every {
		e.suppressed++
		return out
	}
	out.Warn, out.Suppressed = true, e.suppressed
	e.warned, e.suppressed = now, 0
	return out
}

// Answered notes an answer of key: it ends key's episode when its last
// failure is an interval old.
func (l *Limiter) Answered(key string) Episode {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isRetired(key) {
		return Episode{}
	}
	e := l.episodes[key]
	if e == nil {
		return Episode{}
	}
	e.answeredSince = true
	if l.clk.Now().Sub(e.lastFail) < l.every {
		return Episode{}
	}
	delete(l.episodes, key)
	return Episode{Ended: true, Failures: e.failures}
}

// Keys of a DNS list's state in a Limiter: the episode of its failures
// (Failed, Answered) and the pace of its misconfiguration WARN (Allow).
func unansweredKey(zone string) string    { return "dnsbl unanswered " + zone }
func misconfiguredKey(zone string) string { return "dnsbl " + zone }

// KeepLists forgets the state of every DNS list no receive connector of
// connectors asks (a reload removed it): its episode of failures and
// the pace of its misconfiguration WARN. The Limiter outlives reloads
// so that a list kept by a reload keeps its episode; a list removed
// and added back later is a new list, whose first failure is warned of
// at once, and whose first answer ends no episode of its past
// (TestDNSBLRemovedListForgetsItsEpisode); a lookup of it that ends
// after the reload (a connection accepted before it) brings none of
// its state back (retired). Call it at the start and once a reload has
// been applied, with every connector of the configuration in force.
func (l *Limiter) KeepLists(connectors []config.ReceiveConnector) {
	zones := zonesAsked(connectors)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retired = retire(l.retired, l.inForce, zones)
	removed := func(key string) bool {
		zone, ok := listZone(key)
		if ok && !zones[zone] {
			l.retired[zone] = true
			return true
		}
		return false
	}
	for k := range l.episodes {
		if removed(k) {
			delete(l.episodes, k)
		}
	}
	for k := range l.last {
		if removed(k) {
			delete(l.last, k)
		}
	}
	for z := range zones {
		delete(l.retired, z) // put back: a new list
	}
	l.inForce = zones
}

// zonesAsked is the zones (mailaddr.NameKey) of the DNS lists
// connectors ask: those of connectors whose connection filtering is
// enabled (no checks are built for the others).
func zonesAsked(connectors []config.ReceiveConnector) map[string]bool {
	zones := map[string]bool{}
	for _, rc := range connectors {
		if !rc.ConnectionFiltering.Enabled() {
			continue // no checks are built: its lists are not asked
		}
		for _, li := range rc.ConnectionFiltering.DNSBL.Lists {
			zones[mailaddr.NameKey(li.Zone)] = true
		}
	}
	return zones
}

// retire adds to retired (made when nil) the zones of inForce that
// zones, the lists in force now, no longer has, and returns it.
func retire(retired, inForce, zones map[string]bool) map[string]bool {
	if retired == nil {
		retired = map[string]bool{}
	}
	for z := range inForce {
		if !zones[z] {
			retired[z] = true
		}
	}
	return retired
}

// listZone is the zone of a DNS list's key (unansweredKey,
// misconfiguredKey); ok is false for any other key.
func listZone(key string) (zone string, ok bool) {
	zone, ok = strings.CutPrefix(key, "dnsbl unanswered ")
	if !ok {
		zone, ok = strings.CutPrefix(key, "dnsbl ")
	}
	return zone, ok
}

// isRetired reports whether key is a DNS list's that a reload took out
// (KeepLists); l.mu is held.
func (l *Limiter) isRetired(key string) bool {
	if len(l.retired) == 0 {
		return false
	}
	zone, ok := listZone(key)
	return ok && l.retired[zone]
}

// Allow reports whether a line for key may be logged now.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isRetired(key) {
		return false
	}
	now := l.clk.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		return false
	}
	if len(l.last) > 1000 { // keys are zones and checks: bounded, but be safe
		clear(l.last)
	}
	l.last[key] = now
	return true
}

// DNSBL is the blocklist check at connect of one receive connector.
type DNSBL struct {
	connector string
	threshold float64
	action    string
	lists     []*list
	opt       Options
}

type list struct {
	zone   string // lower case, no trailing dot
	kind   string
	weight float64
	codes  []code // in key order; none: every return code lists
}

type code struct {
	r      config.ReturnCodes
	reason string
}

// NewDNSBL builds the check from a connector's settings (validated by
// config; the return codes are parsed again here).
func NewDNSBL(connector string, cfg config.DNSBL, opt Options) (*DNSBL, error) {
	opt.defaults()
	if opt.Resolver == nil {
		return nil, errors.New("dnsbl: no resolver")
	}
	d := &DNSBL{connector: connector, threshold: cfg.Threshold, action: cfg.Action, opt: opt}
	for _, l := range cfg.Lists {
		li := &list{zone: mailaddr.NameKey(l.Zone), kind: l.Kind, weight: l.Weight}
		keys := make([]string, 0, len(l.Codes))
		for k := range l.Codes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r, err := config.ParseReturnCode(k)
			if err != nil {
				return nil, fmt.Errorf("dnsbl %s: code %q: %w", li.zone, k, err)
			}
			li.codes = append(li.codes, code{r: r, reason: l.Codes[k]})
		}
		d.lists = append(d.lists, li)
	}
	return d, nil
}

// Name implements smtp.Check.
func (d *DNSBL) Name() string { return "dnsbl" }

// Outcomes of asking one list.
const (
	listed        = "listed"
	clean         = "clear"
	lookupError   = "error"
	misconfigured = "misconfigured"
	// cancelled: umbra stopped asking (its stop ended the lookup): no
	// answer of the list's, and no failure of it either.
	cancelled = "cancelled"
	// panicked: the lookup's goroutine panicked (askRecovered), umbra's
	// own defect: counted as not listing, but no failure of the list's.
	panicked = "panicked"
)

type listResult struct {
	l       *list
	state   string
	reasons []string
	detail  string // for the log: the error or the stray answer
}

// QueryName is the name a list is asked for ip: the reversed octets of an
// IPv4 address (nibbles of an IPv6 one) under the zone.
func QueryName(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.", a[3], a[2], a[1], a[0])
	} else {
		a := ip.As16()
		for i := 15; i >= 0; i-- {
			fmt.Fprintf(&b, "%x.%x.", a[i]&0xf, a[i]>>4)
		}
	}
	b.WriteString(zone)
	b.WriteByte('.')
	return b.String()
}

// ask looks ip up in one list and reads the answer.
// askRecovered is ask on the goroutine Connect starts per list. A panic
// there (a defect, in the reading of a list's answer say: outside
// input) is recovered — no lock is held there — and the list counts as
// not listing (fail open), the panic counted (umbra_dnsbl_panics_total,
// and umbra_dnsbl_lookups_total result panicked) and logged at ERROR
// once a minute (panicline). Unrecovered it ended the daemon, every
// session with it (TestDNSBLLookupPanicRecovered). It is umbra's fault,
// not the list's: no WARN "DNS list not answered" blames the list and
// no episode of its failures begins (TestDNSBLPanicBlamesNoList).
func (d *DNSBL) askRecovered(ctx context.Context, l *list, ip netip.Addr) (res listResult) {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			d.opt.Metrics.panicked()
			if line, ok := d.opt.Panics.Attrs(time.Now(), r, stack); ok {
				d.opt.Log.Error("DNS list lookup panicked", append([]any{"zone", l.zone, "connector", d.connector}, line...)...)
			}
			res = listResult{l: l, state: panicked, detail: "internal error (recovered panic)"}
		}
	}()
	return d.ask(ctx, l, ip)
}

func (d *DNSBL) ask(ctx context.Context, l *list, ip netip.Addr) listResult {
	res := listResult{l: l}
	a, err := d.opt.Resolver.Lookup(ctx, QueryName(ip, l.zone), dns.TypeA)
	var de *net.DNSError
	switch {
	case err == nil:
	case errors.As(err, &de) && de.IsNotFound && !de.IsTemporary:
		res.state = clean
		return res
	case errors.Is(err, resolver.ErrPanicked):
		// The resolver's goroutine panicked: umbra's defect, counted and
		// logged at ERROR there ("dns lookup panicked"), not the list's.
		res.state, res.detail = panicked, err.Error()
		return res
	default:
		res.state, res.detail = lookupError, err.Error()
		return res
	}
	return readAnswer(l, a.RRs)
}

// readAnswer classifies a list's A records: any record outside the
// listing codes makes the whole answer misconfigured.
func readAnswer(l *list, rrs []dns.RR) listResult {
	res := listResult{l: l, state: clean}
	seen := map[string]bool{}
	for _, rr := range rrs {
		ar, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		addr, ok := netip.AddrFromSlice(ar.A.To4())
		if !ok {
			continue
		}
		if !config.IsDNSBLAnswer(addr) {
			what := "an answer outside 127.0.0.0/8"
			if config.IsDNSBLErrorCode(addr) {
				what = "an error code (queries refused: an open or public resolver, or over the list's limit)"
			}
			return listResult{l: l, state: misconfigured, detail: addr.String() + ": " + what}
		}
		reason := ""
		if len(l.codes) == 0 {
			reason = "listed"
		}
		for _, c := range l.codes {
			if c.r.Contains(addr) {
				reason = c.reason
				break
			}
		}
		if reason == "" {
			continue // a code the configuration does not count
		}
		res.state = listed
		if !seen[reason] {
			seen[reason] = true
			res.reasons = append(res.reasons, reason)
		}
	}
	return res
}

// Connect implements smtp.ConnectCheck.
func (d *DNSBL) Connect(ctx context.Context, c *smtp.ConnInfo) smtp.Verdict {
	ip := c.IP.Unmap()
	if c.Server || !ip.IsValid() || len(d.lists) == 0 {
		return smtp.Verdict{}
	}
	stopping := ctx // the server's: cancelled when umbra stops
	ctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
	defer cancel()
	results := make([]listResult, len(d.lists))
	var wg sync.WaitGroup
	for i, l := range d.lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := d.askRecovered(ctx, l, ip)
			if r.state == lookupError && stopping.Err() != nil {
				// umbra's stop ended it: judged as the lookup ends, so
				// that a list that failed on its own before the stop
				// (another list still waiting) stays its failure
				// (TestDNSBLStopCancelsOnlyTheLookupsItCut).
				r.state = cancelled
			}
			results[i] = r
		}()
	}
	wg.Wait()

	score := 0.0
	exempt := ""
	var hits []string
	for _, r := range results {
		d.opt.Metrics.list(r.l.zone, r.state)
		var ep Episode
		switch {
		case r.state == cancelled:
			// umbra stopped asking: no failure of the list's — not
			// counted as its error, no WARN blaming it, no episode
			d.opt.Log.Debug("DNS list not asked to the end: umbra is stopping", "zone", r.l.zone, "err", r.detail,
				"client_ip", ip.String(), "connector", d.connector)
			continue
		case r.state == panicked:
			// umbra's own defect, said at ERROR where it was recovered
			// (askRecovered, "DNS list lookup panicked"; the resolver's
			// "dns lookup panicked", resolver.ErrPanicked): the list is
			// not blamed — no WARN "not answered", no episode — and the
			// client counts as not listed by it (fail open)
			continue
		case r.state == lookupError:
			ep = d.opt.Warnings.Failed(unansweredKey(r.l.zone))
		default:
			ep = d.opt.Warnings.Answered(unansweredKey(r.l.zone))
		}
		if ep.Ended {
			d.opt.Log.Info("DNS list answers again", "zone", r.l.zone, "not_answered", ep.Failures)
		}
		switch r.state {
		case misconfigured:
			if d.opt.Warnings.Allow(misconfiguredKey(r.l.zone)) {
				d.opt.Log.Warn("DNS list misconfigured: its answer is ignored", "zone", r.l.zone, "answer", r.detail,
					"client_ip", ip.String(), "connector", d.connector)
			}
		case lookupError:
			// A WARN at an episode's first failure and at most one a
			// minute after (Limiter.Failed), the others at DEBUG.
			attrs := []any{"zone", r.l.zone, "err", r.detail, "client_ip", ip.String(), "connector", d.connector}
			switch {
			case ep.Warn && ep.Suppressed > 0:
				d.opt.Log.Warn("DNS list not answered: counted as not listing", append(attrs, "suppressed", ep.Suppressed)...)
			case ep.Warn:
				d.opt.Log.Warn("DNS list not answered: counted as not listing", attrs...)
			default:
				d.opt.Log.Debug("DNS list not answered: counted as not listing", attrs...)
			}
		case listed:
			switch r.l.kind {
			case config.ListAllow:
				score -= r.l.weight
			case config.ListExempt:
				exempt = r.l.zone
			default:
				score += r.l.weight
				hits = append(hits, r.l.zone+" ("+strings.Join(r.reasons, ", ")+")")
			}
		}
	}
	if len(hits) == 0 {
		return smtp.Verdict{}
	}
	// found: what the lists said; the check's own lines name the client
	// and the connector before it, the session's logger does for the
	// log-only refusal (Verdict.Noted).
	found := []any{"score", score, "threshold", d.threshold, "lists", strings.Join(hits, "; ")}
	attrs := append([]any{"client_ip", ip.String(), "connector", d.connector}, found...)
	if exempt != "" {
		d.opt.Metrics.dnsblVerdict(d.connector, "exempt")
		d.opt.Log.Info("client on a DNS blocklist is exempt", append(attrs, "exempt_by", exempt)...)
		return smtp.Verdict{}
	}
	if score < d.threshold {
		d.opt.Log.Debug("client on a DNS blocklist, below the threshold", attrs...)
		return smtp.Verdict{}
	}
	d.opt.Metrics.dnsblVerdict(d.connector, d.action)
	text := replyText(strings.Join(hits, ", "))
	switch d.action {
	case config.ActionReject:
		return refuse(554, 5, 7, 1, "Service unavailable; client ["+ip.String()+"] blocked using "+text)
	case config.ActionTempfail:
		return refuse(421, 4, 7, 1, "Service temporarily unavailable; client ["+ip.String()+"] listed by "+text+"; try again later")
	default:
		// Said on the session's rate-limited refusal log with the codes
		// of the refusal it would have been (Verdict.Noted): a line per
		// connection of the check's own was any listed client's to
		// multiply (front48 item 2).
		would := refuse(554, 5, 7, 1, "Service unavailable; client ["+ip.String()+"] blocked using "+text).Reply
		return smtp.Verdict{Noted: []smtp.Noted{{Msg: "client on a DNS blocklist (log only)", Reason: "dnsbl_listed",
			Reply: would, Attrs: found}}}
	}
}

func refuse(code, a, b, c int, msg string) smtp.Verdict {
	return smtp.Verdict{Reply: &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{a, b, c}, Message: msg}}
}

// replyText keeps a reply line well inside SMTP's 512 octets.
func replyText(s string) string {
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}
