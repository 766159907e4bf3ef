package tlspolicy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/textproto"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/resolver"
)

// ReportStore keeps the day's counters across restarts (queue.Store's
// tlsrpt bucket).
type ReportStore interface {
	UpdateTLSReport(ctx context.Context, day, domain string, fn func(old []byte) []byte) error
	TLSReports(before string) ([]queue.TLSReport, error)
	DeleteTLSReport(ctx context.Context, day, domain string) error
}

// Metrics counts sessions by policy type and result (bounded labels:
// result is "success" or an RFC 8460 result type).
type Metrics interface {
	TLSResult(policyType, result string)
}

// Submitter queues a report message; key names it, so a report offered
// twice (a crash after queueing, before the counters were deleted) is
// queued once (queue.Manager.SubmitKeyed).
type Submitter func(ctx context.Context, from string, to []string, body []byte, key string) error

// RPTConfig configures a Counter.
type RPTConfig struct {
	Store    ReportStore
	Resolver resolver.Resolver
	Clock    clock.Clock
	Log      *slog.Logger
	Metrics  Metrics
	Submit   Submitter
	// OrgName, Contact and From appear in reports; Hostname names the
	// submitter (TLS-Report-Submitter).
	OrgName, Contact, From, Hostname string
}

// counts is one day's results for one policy domain, per policy type.
type counts map[string]*typeCounts

type typeCounts struct {
	Success  int64            `json:"s"`
	Failure  int64            `json:"f"`
	Failures map[string]int64 `json:"d,omitempty"` // result-type \x00 mx → count
	// (An older release kept the hosts of the sessions as "mx"; the
	// report's mx-host comes from Policy now, and "mx" is ignored.)
	// Policy is the policy-string of the latest session (RFC 8460 §4.4).
	Policy []string `json:"p,omitempty"`
}

// Counter implements Reporter: it counts session outcomes per policy
// domain in memory and adds them to the day's stored record at every
// Flush (serve flushes each minute and at shutdown; a crash loses at
// most that minute's counts, never a report).
type Counter struct {
	cfg RPTConfig

	mu      sync.Mutex
	pending map[string]map[string]counts // day → domain → counts
}

// NewCounter returns a Counter.
func NewCounter(cfg RPTConfig) *Counter {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Counter{cfg: cfg, pending: map[string]map[string]counts{}}
}

const maxFailureKeys = 64 // bound per domain, day and policy type

// Result implements Reporter. resultType "" is a success.
func (c *Counter) Result(domain, policyType, mx, resultType string) {
	day := c.cfg.Clock.Now().UTC().Format(time.DateOnly)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[day] == nil {
		c.pending[day] = map[string]counts{}
	}
	cs := c.pending[day][domain]
	if cs == nil {
		cs = counts{}
		c.pending[day][domain] = cs
	}
	add(cs, policyType, mx, resultType, 1)
	if c.cfg.Metrics != nil {
		r := resultType
		if r == "" {
			r = "success"
		}
		c.cfg.Metrics.TLSResult(policyType, r)
	}
}

// maxPolicyStrings bounds a kept policy-string (an MTA-STS policy's
// lines, a host's TLSA records).
const maxPolicyStrings = 64

// Policy implements PolicyRecorder: the policy the day's sessions of
// domain were last checked against, sent as the report's policy-string.
func (c *Counter) Policy(domain, policyType string, policy []string) {
	day := c.cfg.Clock.Now().UTC().Format(time.DateOnly)
	policy = slices.Clone(policy[:min(len(policy), maxPolicyStrings)])
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[day] == nil {
		c.pending[day] = map[string]counts{}
	}
	cs := c.pending[day][domain]
	if cs == nil {
		cs = counts{}
		c.pending[day][domain] = cs
	}
	add(cs, policyType, "", "", 0)
	cs[policyType].Policy = policy
}

func add(cs counts, policyType, mx, resultType string, n int64) {
	tc := cs[policyType]
	if tc == nil {
		tc = &typeCounts{}
		cs[policyType] = tc
	}
	if resultType == "" {
		tc.Success += n
		return
	}
	tc.Failure += n
	if tc.Failures == nil {
		tc.Failures = map[string]int64{}
	}
	k := resultType + "\x00" + mx
	if _, ok := tc.Failures[k]; ok || len(tc.Failures) < maxFailureKeys {
		tc.Failures[k] += n
	}
}

func merge(into, from counts) {
	for typ, tc := range from {
		add(into, typ, "", "", tc.Success)
		for k, n := range tc.Failures {
			rt, mx, _ := strings.Cut(k, "\x00")
			add(into, typ, mx, rt, n)
		}
		// failures beyond the key bound count in the total only
		extra := tc.Failure
		for _, n := range tc.Failures {
			extra -= n
		}
		into[typ].Failure += extra
		if len(tc.Policy) > 0 {
			into[typ].Policy = tc.Policy
		}
	}
}

// Flush adds the counts gathered since the last Flush to the stored
// records, one commit per (day, domain).
func (c *Counter) Flush(ctx context.Context) error {
	c.mu.Lock()
	p := c.pending
	c.pending = map[string]map[string]counts{}
	c.mu.Unlock()
	var errs []error
	for day, doms := range p {
		for dom, cs := range doms {
			err := c.cfg.Store.UpdateTLSReport(ctx, day, dom, func(old []byte) []byte {
				stored := counts{}
				if len(old) > 0 {
					_ = json.Unmarshal(old, &stored)
				}
				merge(stored, cs)
				b, _ := json.Marshal(stored)
				return b
			})
			if err != nil {
				errs = append(errs, err)
				c.mu.Lock() // keep them for the next flush
				if c.pending[day] == nil {
					c.pending[day] = map[string]counts{}
				}
				if c.pending[day][dom] == nil {
					c.pending[day][dom] = counts{}
				}
				merge(c.pending[day][dom], cs)
				c.mu.Unlock()
			}
		}
	}
	return errors.Join(errs...)
}

// Stored returns the stored counts of (day, domain) as success and
// failure totals per policy type (tests, route explain).
func (c *Counter) Stored(day, domain string) (map[string][2]int64, error) {
	recs, err := c.cfg.Store.TLSReports("")
	if err != nil {
		return nil, err
	}
	out := map[string][2]int64{}
	for _, r := range recs {
		if r.Day != day || r.Domain != domain {
			continue
		}
		cs := counts{}
		if err := json.Unmarshal(r.Value, &cs); err != nil {
			return nil, err
		}
		for typ, tc := range cs {
			out[typ] = [2]int64{tc.Success, tc.Failure}
		}
	}
	return out, nil
}

// Report is the RFC 8460 §4.4 JSON report.
type Report struct {
	OrganizationName string          `json:"organization-name"`
	DateRange        ReportDateRange `json:"date-range"`
	ContactInfo      string          `json:"contact-info"`
	ReportID         string          `json:"report-id"`
	Policies         []ReportPolicy  `json:"policies"`
}

type ReportDateRange struct {
	Start string `json:"start-datetime"`
	End   string `json:"end-datetime"`
}

type ReportPolicy struct {
	Policy         ReportPolicyDesc `json:"policy"`
	Summary        ReportSummary    `json:"summary"`
	FailureDetails []ReportFailure  `json:"failure-details,omitempty"`
}

type ReportPolicyDesc struct {
	PolicyType   string   `json:"policy-type"`
	PolicyString []string `json:"policy-string,omitempty"`
	PolicyDomain string   `json:"policy-domain"`
	MXHost       []string `json:"mx-host,omitempty"`
}

type ReportSummary struct {
	Success int64 `json:"total-successful-session-count"`
	Failure int64 `json:"total-failure-session-count"`
}

type ReportFailure struct {
	ResultType    string `json:"result-type"`
	ReceivingMX   string `json:"receiving-mx-hostname,omitempty"`
	FailedSession int64  `json:"failed-session-count"`
}

// buildReport makes the report of one day for one policy domain.
func (c *Counter) buildReport(day, domain string, cs counts) Report {
	r := Report{OrganizationName: c.cfg.OrgName, ContactInfo: c.cfg.Contact,
		DateRange: ReportDateRange{Start: day + "T00:00:00Z", End: day + "T23:59:59Z"},
		ReportID:  day + "_" + domain + "_" + randomHex()}
	types := make([]string, 0, len(cs))
	for t := range cs {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		tc := cs[t]
		p := ReportPolicy{Policy: ReportPolicyDesc{PolicyType: t, PolicyString: tc.Policy, PolicyDomain: domain, MXHost: mxHost(t, tc.Policy)},
			Summary: ReportSummary{Success: tc.Success, Failure: tc.Failure}}
		keys := make([]string, 0, len(tc.Failures))
		for k := range tc.Failures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rt, mx, _ := strings.Cut(k, "\x00")
			p.FailureDetails = append(p.FailureDetails, ReportFailure{ResultType: rt, ReceivingMX: mx, FailedSession: tc.Failures[k]})
		}
		r.Policies = append(r.Policies, p)
	}
	return r
}

// mxHost is a report's mx-host (RFC 8460 §4.4): for an sts policy the
// mx patterns of the policy applied (its policy-string's "mx:" lines, as
// written: "*.mx.example.net"), never the hosts the sessions went to —
// those are the failure details' receiving-mx-hostname; none for tlsa
// and no-policy-found, for which the RFC defines no mx-host.
func mxHost(policyType string, policy []string) []string {
	if policyType != PolicySTS {
		return nil
	}
	var out []string
	for _, l := range policy {
		if v, ok := strings.CutPrefix(l, "mx:"); ok {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ParseRPTRecord returns the mailto: addresses of a _smtp._tls TXT
// record (RFC 8460 §3): "v=TLSRPTv1; rua=mailto:a@b,https://…".
// https rua are not used by umbra and are skipped.
func ParseRPTRecord(txt string) ([]string, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=TLSRPTv1" {
		return nil, errors.New("tls-rpt record: not v=TLSRPTv1")
	}
	var out []string
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k != "rua" {
			continue
		}
		for _, u := range strings.Split(v, ",") {
			u = strings.TrimSpace(u)
			if a, ok := strings.CutPrefix(u, "mailto:"); ok {
				if i := strings.IndexByte(a, '!'); i >= 0 { // a size limit suffix
					a = a[:i]
				}
				if at := strings.LastIndexByte(a, '@'); at > 0 && at < len(a)-1 && !strings.ContainsAny(a, " <>\r\n,") {
					out = append(out, a)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("tls-rpt record: no mailto rua")
	}
	return out, nil
}

// SendDue sends the report of every stored day before today to the rua
// of its domain's _smtp._tls record, and deletes the day's counters once
// the report is queued. A domain without a record has its counters
// dropped; a DNS failure keeps them for the next run (at most 7 days).
// It returns how many reports were queued.
func (c *Counter) SendDue(ctx context.Context) (int, error) {
	if err := c.Flush(ctx); err != nil {
		return 0, err
	}
	now := c.cfg.Clock.Now().UTC()
	today := now.Format(time.DateOnly)
	recs, err := c.cfg.Store.TLSReports(today)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, r := range recs {
		if ctx.Err() != nil {
			break
		}
		ok, err := c.sendOne(ctx, r, now)
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

// sendOne queues the report of one stored record to its domain's rua
// (keyed: queued once however often it is offered) and deletes the
// record; a domain without a record has it dropped, a DNS failure keeps
// it (at most 7 days). It reports whether a report was queued.
func (c *Counter) sendOne(ctx context.Context, r queue.TLSReport, now time.Time) (bool, error) {
	cs := counts{}
	if json.Unmarshal(r.Value, &cs) != nil {
		return false, c.cfg.Store.DeleteTLSReport(ctx, r.Day, r.Domain)
	}
	rua, err := c.rua(ctx, r.Domain)
	if err != nil {
		if d, perr := time.Parse(time.DateOnly, r.Day); perr == nil && now.Sub(d) > 7*24*time.Hour {
			c.cfg.Store.DeleteTLSReport(ctx, r.Day, r.Domain)
		}
		return false, nil
	}
	queued := false
	if len(rua) > 0 {
		body, err := c.message(r.Day, r.Domain, c.buildReport(r.Day, r.Domain, cs), rua)
		if err != nil {
			return false, err
		}
		if err := c.cfg.Submit(ctx, c.cfg.From, rua, body, "tlsrpt:"+r.Day+":"+r.Domain); err != nil {
			return false, err
		}
		queued = true
		c.cfg.Log.Info("tls report queued", "domain", r.Domain, "day", r.Day, "rcpts", len(rua))
	}
	return queued, c.cfg.Store.DeleteTLSReport(ctx, r.Day, r.Domain)
}

// PendingReport is the report of one day for one policy domain as it
// stands (umbra tls report): the counts so far, where it would go.
type PendingReport struct {
	Day    string   `json:"day"`
	Domain string   `json:"domain"`
	Rua    []string `json:"rua"`
	// RuaError: DNS could not say where the report goes (it is kept and
	// tried again); no rua and no error: the domain publishes no
	// _smtp._tls record and gets no report.
	RuaError string `json:"rua_error,omitempty"`
	Report   Report `json:"report"`
}

// Pending flushes the counts and returns the reports of day (UTC,
// YYYY-MM-DD) as they would be sent now, by domain.
func (c *Counter) Pending(ctx context.Context, day string) ([]PendingReport, error) {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return nil, fmt.Errorf("day %q: want YYYY-MM-DD", day)
	}
	if err := c.Flush(ctx); err != nil {
		return nil, err
	}
	recs, err := c.cfg.Store.TLSReports("")
	if err != nil {
		return nil, err
	}
	out := []PendingReport{}
	for _, r := range recs {
		if r.Day != day {
			continue
		}
		cs := counts{}
		if err := json.Unmarshal(r.Value, &cs); err != nil {
			continue
		}
		p := PendingReport{Day: r.Day, Domain: r.Domain, Rua: []string{}, Report: c.buildReport(r.Day, r.Domain, cs)}
		if rua, err := c.rua(ctx, r.Domain); err != nil {
			p.RuaError = err.Error()
		} else if rua != nil {
			p.Rua = rua
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domain < out[j].Domain })
	return out, nil
}

// SendRefusedError is SendDay's refusal of a day before anything is
// tried (not a date, a day not over): the admin API audits it as a
// refusal (Refused), any other error as a failure.
type SendRefusedError string

func (e SendRefusedError) Error() string { return string(e) }

// Refused marks the error a refusal for the admin API's audit.
func (SendRefusedError) Refused() bool { return true }

// SendDay queues the reports of day now instead of at the next hourly
// run, which then finds them gone (and their keys queued), so nothing is
// sent twice. A report covers one whole UTC day (RFC 8460 §4.1): a day
// that is not over is refused.
func (c *Counter) SendDay(ctx context.Context, day string) (int, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return 0, SendRefusedError(fmt.Sprintf("day %q: want YYYY-MM-DD", day))
	}
	now := c.cfg.Clock.Now().UTC()
	if d.Add(24 * time.Hour).After(now) {
		return 0, SendRefusedError(fmt.Sprintf("day %s is not over (now %s UTC): a TLS report covers a whole UTC day", day, now.Format(time.DateTime)))
	}
	if err := c.Flush(ctx); err != nil {
		return 0, err
	}
	recs, err := c.cfg.Store.TLSReports("")
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, r := range recs {
		if r.Day != day || ctx.Err() != nil {
			continue
		}
		ok, err := c.sendOne(ctx, r, now)
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	return sent, ctx.Err()
}

// rua returns the report addresses of domain: none (nil, nil) when it
// publishes no record, an error when DNS could not say.
func (c *Counter) rua(ctx context.Context, domain string) ([]string, error) {
	txts, err := c.cfg.Resolver.LookupTXT(ctx, "_smtp._tls."+domain)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	for _, t := range txts {
		if strings.HasPrefix(t, "v=TLSRPTv1") {
			if a, err := ParseRPTRecord(t); err == nil {
				return a, nil
			}
		}
	}
	return nil, nil
}

// message builds the report mail (RFC 8460 §5.3): multipart/report of
// report-type tlsrpt with the gzip'd JSON as application/tlsrpt+gzip.
func (c *Counter) message(day, domain string, rep Report, rua []string) ([]byte, error) {
	js, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(js)
	zw.Close()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	now := c.cfg.Clock.Now().UTC()
	fmt.Fprintf(&b, "From: <%s>\r\nTo: %s\r\nSubject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n",
		c.cfg.From, "<"+strings.Join(rua, ">, <")+">", domain, c.cfg.Hostname, rep.ReportID)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s@%s>\r\nTLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\nMIME-Version: 1.0\r\n",
		now.Format(time.RFC1123Z), rep.ReportID, c.cfg.Hostname, domain, c.cfg.Hostname)
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"\r\n\r\n", mw.Boundary())
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "text/plain; charset=us-ascii")
	pw, _ := mw.CreatePart(h)
	fmt.Fprintf(pw, "This is an aggregate TLS report from %s for %s on %s.\r\n", c.cfg.Hostname, domain, day)
	h = textproto.MIMEHeader{}
	h.Set("Content-Type", "application/tlsrpt+gzip")
	h.Set("Content-Transfer-Encoding", "base64")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"%s!%s!%d!%d.json.gz\"", c.cfg.Hostname, domain,
		mustDay(day).Unix(), mustDay(day).Add(24*time.Hour-time.Second).Unix()))
	pw, _ = mw.CreatePart(h)
	enc := base64Lines(gz.Bytes())
	pw.Write(enc)
	mw.Close()
	return b.Bytes(), nil
}

func mustDay(day string) time.Time {
	t, _ := time.Parse(time.DateOnly, day)
	return t
}
