package msgauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"umbra/internal/header"
	"umbra/internal/mailaddr"
	"umbra/internal/resolver"
)

// spfResult is one SPF identity's result (RFC 7208 §2.6).
type spfResult struct {
	value  string // none, neutral, pass, fail, softfail, temperror, permerror
	domain string // the domain checked
	reason string
}

// checkSPF evaluates the SPF record of identity's domain for ip.
// identity is an address (MAIL FROM) or a HELO name given as
// postmaster@name; a domain that is not a host name, or whose top label
// is no name (topLabelIsName), is "none" and not asked.
func checkSPF(ctx context.Context, r resolver.Resolver, ip netip.Addr, helo, identity string) spfResult {
	at := strings.LastIndexByte(identity, '@')
	local, domain := identity[:max(at, 0)], identity[at+1:]
	res := spfResult{value: "none", domain: strings.ToLower(domain)}
	ascii, ok := asciiDomain(domain)
	if !ok || !topLabelIsName(ascii) {
		// RFC 7208 §4.3: a domain that is no multi-label domain name
		// is "none"; one whose top label is no name (a@x.y, HELO
		// 192.0.2.1) is not asked either.
		res.reason = "no domain to check"
		return res
	}
	res.domain, identity = ascii, local+"@"+ascii
	// A v4-mapped address (a dual-stack socket's IPv4 client) is an
	// IPv4 client: RFC 7208 §5.6 matches it with ip4, never with ip6.
	ip = ip.Unmap()
	v, err := spf.CheckHostWithSender(net.IP(ip.AsSlice()), helo, identity,
		spf.WithContext(ctx), spf.WithResolver(spfNames{nameGuard{r}, ip.Is4()})) // RFC 7208 §5.6, §7.3 (dnsname.go)
	res.value = string(v)
	if err != nil && v != spf.Pass && !isSPFMatch(err) {
		res.reason = err.Error()
	}
	return res
}

// isSPFMatch: the library reports which mechanism matched as an error.
func isSPFMatch(err error) bool {
	for _, m := range []error{spf.ErrMatchedAll, spf.ErrMatchedA, spf.ErrMatchedIP, spf.ErrMatchedMX,
		spf.ErrMatchedPTR, spf.ErrMatchedExists} {
		if errors.Is(err, m) {
			return true
		}
	}
	return false
}

// isHostName: dot-separated labels of letters, digits and hyphens
// (underscores allowed, as in real DNS), at least two labels.
func isHostName(s string) bool {
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// dkimResult is one signature's result (RFC 6376 §6.1, RFC 8601 §2.7.1).
type dkimResult struct {
	value    string // pass, fail, neutral, temperror, permerror
	domain   string // d=
	identity string // i=
	selector string // s=
	b        string // the first characters of b=, to tell signatures apart
	reason   string
}

// maxSignedFields is the most header fields one signature (DKIM-Signature
// or ARC-Message-Signature) may name in h=. Real signers name a dozen or
// two (oversigning included); a signature naming more is refused as
// permerror without being computed, so that a message cannot make the
// header hash cost h= entries × header fields.
const maxSignedFields = 100

// errTooExpensive: a signature names more fields than maxSignedFields.
var errTooExpensive = fmt.Errorf("signature names more than %d header fields in its h tag, not verified", maxSignedFields)

// dkimSig is one DKIM-Signature field of the message.
type dkimSig struct {
	pos   int // index in fields
	tags  map[string]string
	names []string // h=, lower case
}

// verifyDKIM verifies the message's DKIM signatures (at most max).
// None means the message has no signature.
//
// The verification itself is go-msgauth's, but it is given only the
// header fields that can take part: the signatures it is to verify and,
// for each field name, the bottom-most fields as many as any of those
// signatures names it (RFC 6376 §5.4.2 picks bottom-up, so the fields
// above cannot be picked). The header hash thus costs what the h= lists
// cost, whatever the number of header fields. Signatures naming more
// than maxSignedFields fields are permerror without being computed. The
// body is read through ctx: when the message's time is up or the
// session ended, the work stops and the signatures still open are
// temperror.
func verifyDKIM(ctx context.Context, lookup txtLookup, fields []field, msg []byte, max int) []dkimResult {
	return verifyDKIMRest(ctx, lookup, fields, msg, nil, max)
}

// verifyDKIMRest is verifyDKIM for a message that goes on after msg
// (rest): the body is read as a stream.
func verifyDKIMRest(ctx context.Context, lookup txtLookup, fields []field, msg []byte, rest restOpener, max int) []dkimResult {
	var sigs []dkimSig
	for i, f := range fields {
		if f.is("DKIM-Signature") {
			t, _ := parseTags(f.value())
			var names []string
			if h := stripWSP(t["h"]); h != "" {
				names = strings.Split(strings.ToLower(h), ":")
			}
			sigs = append(sigs, dkimSig{pos: i, tags: t, names: names})
		}
	}
	if len(sigs) == 0 {
		return nil
	}
	if max > 0 && len(sigs) > max {
		sigs = sigs[:max]
	}
	out := make([]dkimResult, len(sigs))
	keep := make([]bool, len(fields))
	need := map[string]int{}
	var cheap []int // indices into sigs of the signatures verified
	for i, sg := range sigs {
		out[i] = dkimResult{domain: mailaddr.NameKey(stripWSP(sg.tags["d"])), // its A-label: aligned, reported
			identity: stripWSP(sg.tags["i"]), selector: stripWSP(sg.tags["s"])}
		if b := stripWSP(sg.tags["b"]); len(b) >= 8 {
			out[i].b = b[:8]
		}
		if len(sg.names) > maxSignedFields {
			out[i].value, out[i].reason = "permerror", errTooExpensive.Error()
			continue
		}
		cheap = append(cheap, i)
		keep[sg.pos] = true
		count := map[string]int{}
		for _, n := range sg.names {
			count[strings.TrimSpace(n)]++
		}
		for n, c := range count {
			need[n] = maxInt(need[n], c)
		}
	}
	if len(cheap) == 0 {
		return out
	}
	byName := indexFields(fields)
	for n, c := range need {
		if n == "dkim-signature" {
			continue // the verified signatures are kept already; the others are not offered
		}
		idx := byName[n]
		for j := len(idx) - 1; j >= 0 && j >= len(idx)-c; j-- {
			keep[idx[j]] = true
		}
	}
	hdrLen := 0
	for _, f := range fields {
		hdrLen += len(f.raw)
	}
	var pruned bytes.Buffer
	for i, f := range fields {
		if keep[i] {
			pruned.Write(f.raw)
		}
	}
	body, done, err := openBody(msg[hdrLen:], rest) // the empty line and the body
	if err != nil {
		for _, i := range cheap {
			out[i].value, out[i].reason = "temperror", "message body unreadable"
		}
		return out
	}
	defer done()
	runs := &emptyRunReader{r: ctxReader{ctx: ctx, r: body}, max: maxEmptyRun}
	verifs, err := dkim.VerifyWithOptions(io.MultiReader(&pruned, runs),
		&dkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				txts, err := lookup(ctx, name)
				out := make([]string, len(txts))
				for i, t := range txts {
					out[i] = keyRecordAsRead(t)
				}
				return out, err
			},
			MaxVerifications: len(cheap),
		})
	if cutOff(ctx) {
		for _, i := range cheap {
			out[i].value, out[i].reason = "temperror", "verification cut off: "+cutOffReason(ctx)
		}
		return out
	}
	if runs.over {
		for _, i := range cheap {
			out[i].value, out[i].reason = "permerror", errEmptyRun.Error()
		}
		return out
	}
	if len(verifs) != len(cheap) {
		reason := "unreadable message"
		if err != nil {
			reason = err.Error()
		}
		for _, i := range cheap {
			out[i].value, out[i].reason = "permerror", reason
		}
		return out
	}
	for k, v := range verifs {
		d := &out[cheap[k]]
		if v.Domain != "" {
			d.domain, d.identity = mailaddr.NameKey(v.Domain), v.Identifier // its A-label
		}
		switch {
		case v.Err == nil:
			d.value = "pass"
		case dkim.IsTempFail(v.Err):
			d.value, d.reason = "temperror", v.Err.Error()
		case dkim.IsPermFail(v.Err):
			d.value, d.reason = "permerror", v.Err.Error()
		default:
			d.value, d.reason = "fail", v.Err.Error()
		}
	}
	return out
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// ctxReader reads r while ctx lasts, in bounded steps, so that a long
// canonicalisation stops soon after ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if cutOff(c.ctx) {
		// The end of the body, not an error: the DKIM library's parallel
		// verifier abandons its per-signature readers (goroutines) when
		// the body fails; the caller sees ctx ended and discards the
		// verdicts.
		return 0, io.EOF
	}
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	return c.r.Read(p)
}

// maxEmptyRun bounds a run of line breaks, with nothing but white space
// between them, in a body the DKIM library verifies: its canonicalisers
// hold such a run until content follows (both body forms drop empty lines
// at the end), one copy per signature, and the simple one copies it again
// on every write. 64 KiB is 32,768 empty lines in a row.
const maxEmptyRun = 64 << 10

// errEmptyRun: a body's run of empty lines is longer than maxEmptyRun.
var errEmptyRun = fmt.Errorf("body has more than %d bytes of empty lines in a row, not verified", maxEmptyRun)

// emptyRunReader ends the body (io.EOF, so the library finishes and its
// goroutines end) once a run of line breaks passes max; over says so,
// and the library's verdicts are then discarded.
type emptyRunReader struct {
	r    io.Reader
	run  int
	max  int
	over bool
}

func (e *emptyRunReader) Read(p []byte) (int, error) {
	if e.over {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	for i := 0; i < n; i++ {
		switch p[i] {
		case '\r', '\n':
			if e.run++; e.run > e.max {
				e.over = true
				return i, io.EOF
			}
		case ' ', '\t':
		default:
			e.run = 0
		}
	}
	return n, err
}

// cutOffReason says why ctx ended: the time allowed, or the session.
func cutOffReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || pastDeadline(ctx) {
		return "time limit reached"
	}
	return "session ended"
}

// cutOff reports whether ctx has ended — or reached its deadline, which
// a lookup's socket (its read deadline is ctx's) can see a moment before
// ctx's own timer marks it done: a lookup that failed then was cut off,
// not failed by DNS.
func cutOff(ctx context.Context) bool {
	return ctx.Err() != nil || pastDeadline(ctx)
}

func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// dmarcResult is the DMARC evaluation (RFC 7489 §6.6).
type dmarcResult struct {
	value  string // none, pass, fail, temperror, permerror
	domain string // the RFC5322.From domain
	// policy is what the domain asks for a failing message, after sp=
	// and pct= (none, quarantine, reject); "" when there is no policy.
	policy    dmarc.Policy
	published dmarc.Policy // p= or sp= as published
	reason    string
}

// fromDomain returns the single author domain of the header (RFC 7489
// §6.6.1): one From: field that is an RFC 5322 mailbox-list
// (header.Mailboxes: no '@' outside quotes or angle brackets in a
// display name, no group, nothing after an address) whose addresses all
// have one domain, a host name whose last label starts with a letter
// (topLabelIsName: a@127.0.0.1 names none). A final
// dot is the same domain (a@example.org. is example.org). An address
// literal (a@[192.0.2.1]) names no domain and so has no DMARC policy:
// the other addresses decide, and with none errAddressLiteral says so.
// Every other error says precisely what is wrong with the field. own
// reports the organisation's own domains (header.MailboxesOwn: a display
// name showing one of them shows an address whatever its top label;
// nil: none).
func fromDomain(fields []field, own func(string) bool) (string, error) {
	var from []field
	for _, f := range fields {
		if f.is("From") {
			from = append(from, f)
		}
	}
	switch len(from) {
	case 0:
		return "", errors.New("no From: field")
	case 1:
	default:
		return "", fmt.Errorf("%d From: fields", len(from))
	}
	// The one strict reading of an author (header.Mailboxes), as DKIM
	// signing reads it: a field that is not a mailbox-list names no
	// author domain, never the one a lenient reader would guess.
	boxes, err := header.MailboxesOwn(from[0].value(), own)
	if err != nil {
		var me *header.MailboxError
		if errors.As(err, &me) {
			return "", fmt.Errorf("From: is not a mailbox list: %s at %s", me.Why, quoteShort(me.At))
		}
		return "", fmt.Errorf("From: is not a mailbox list: %v", err)
	}
	var domains []string
	literal := false
	for _, b := range boxes {
		raw := b.Domain
		if _, err := mailaddr.ParseLiteral(raw); err == nil {
			literal = true // RFC 5321 §4.1.3: an address, no domain to ask
			continue
		}
		d, ok := asciiDomain(raw)
		if !ok || !topLabelIsName(d) {
			return "", fmt.Errorf("From: domain %s is not a domain name", quoteShort(raw))
		}
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	switch {
	case len(domains) == 0 && literal:
		return "", errAddressLiteral
	case len(domains) > 1:
		if len(domains) > 3 {
			domains = append(domains[:3], "…")
		}
		return "", errors.New("From: addresses of several domains: " + strings.Join(domains, ", "))
	}
	return domains[0], nil
}

// topLabelIsName says whether the last label of d, an ASCII domain in
// lower case (asciiDomain), starts with a letter and has a second
// character, as every top-level domain's does (RFC 3696 §2; an
// A-label's "xn--" too; none is one character): "127.0.0.1",
// "999.999.999.999", "0x7f.1", "x.1test" and "x.y" are IP-address text
// or nothing, no author domain and no SPF identity, as the From: check
// reads a display name's domain (header.Mailboxes: shownDomain). An
// address literal is read before.
func topLabelIsName(d string) bool {
	top := d[strings.LastIndexByte(d, '.')+1:]
	return len(top) >= 2 && top[0] >= 'a' && top[0] <= 'z'
}

// errAddressLiteral: the From: addresses are address literals, which
// name no domain: there is no DMARC policy (result none).
var errAddressLiteral = errors.New("From: address literal: no DMARC policy")

// quoteShort quotes text of the message (or of a DNS record) that a
// check could not parse, for an error that may become a reply or an
// Authentication-Results comment: at most 64 bytes of it, in single
// quotes, each byte reasonSpace names (a control or non-ASCII byte, a
// parenthesis, a backslash) as a space, as commentText shows it. The
// mapping that keeps such text from reading as a result ("=", ";",
// quotes) is commentText's, the one way a reason reaches a comment or a
// reply.
func quoteShort(s string) string {
	long := len(s) > 64
	if long {
		s = s[:64]
	}
	b := []byte(s)
	for i, c := range b {
		if reasonSpace(rune(c)) {
			b[i] = ' '
		}
	}
	if long {
		return "'" + string(b) + "...'"
	}
	return "'" + string(b) + "'"
}

// asciiDomain returns d in lower case, internationalized labels as
// A-labels, without a final dot: mailaddr.Name, the one mapping of the
// tree (an underscore label is kept; a label IDNA 2008 refuses, or one
// with a character that only stands for ASCII, is refused, never taken
// for the domain it imitates). ok is false if it is not a host name.
func asciiDomain(d string) (string, bool) {
	a, err := mailaddr.Name(d)
	if err != nil {
		return "", false
	}
	return a, isHostName(a)
}

// orgDomain is the organisational domain (RFC 7489 §3.2): the public
// suffix plus one label.
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return o
}

// aligned compares two domains in relaxed (same organisational domain)
// or strict (equal) mode, each as its A-label in lower case without a
// final dot (mailaddr.NameKey): a DKIM d= or an SPF domain written as a
// U-label is the From: domain's A-label; one IDNA refuses (a full-width
// letter) is no other domain than itself.
func aligned(a, b string, mode dmarc.AlignmentMode) bool {
	a, b = mailaddr.NameKey(a), mailaddr.NameKey(b)
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return orgDomain(a) == orgDomain(b)
}

// errNoPolicy: no usable DMARC record at a name.
var errNoPolicy = errors.New("no DMARC record")

// errManyRecords: more than one DMARC record at a name; RFC 7489
// §6.6.3 step 5: discovery ends, no policy (not the organisational
// domain's either).
var errManyRecords = errors.New("more than one DMARC record")

// errTempDNS: the DMARC record could not be fetched.
var errTempDNS = errors.New("DMARC record lookup failed")

// lookupDMARC finds the policy record for domain: at the domain, else
// (none there) at its organisational domain, whose sp= then applies (RFC
// 7489 §6.6.3). Several records at the name asked end the search:
// errManyRecords. ignored names the record's invalid optional tags.
func lookupDMARC(ctx context.Context, r resolver.Resolver, domain string) (rec *dmarc.Record, ignored []string, sub bool, err error) {
	rec, ignored, err = dmarcRecord(ctx, r, domain)
	if err != errNoPolicy {
		return rec, ignored, false, err
	}
	org := orgDomain(domain)
	if org == domain {
		return nil, nil, false, err
	}
	rec, ignored, err = dmarcRecord(ctx, r, org)
	return rec, ignored, true, err
}

// dmarcRecord reads _dmarc.domain: the TXT records whose first tag is
// v=DMARC1 (isDMARCRecord) count; none is errNoPolicy, more than one errManyRecords; the one is
// read by parseDMARCRecord.
func dmarcRecord(ctx context.Context, r resolver.Resolver, domain string) (*dmarc.Record, []string, error) {
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, nil, errNoPolicy
		}
		return nil, nil, errTempDNS
	}
	var recs []string
	for _, t := range txts {
		if isDMARCRecord(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return nil, nil, errNoPolicy
	case 1:
		return parseDMARCRecord(recs[0])
	}
	return nil, nil, errManyRecords
}

// evaluateDMARC evaluates the From: domain's policy against the SPF
// result of the MAIL FROM (or HELO) identity and the DKIM results.
// sample(pct) says whether a message falls in the pct= share.
func evaluateDMARC(ctx context.Context, r resolver.Resolver, fields []field, spfRes spfResult,
	dkims []dkimResult, sample func(pct int) bool, own func(string) bool) dmarcResult {
	domain, err := fromDomain(fields, own)
	if err == errAddressLiteral {
		return dmarcResult{value: "none", reason: err.Error()}
	}
	if err != nil {
		// RFC 7489 §6.6.1: without one author domain DMARC cannot be
		// applied; such a message is refused where the policy is
		// followed.
		return dmarcResult{value: "permerror", reason: err.Error(), policy: dmarc.PolicyReject}
	}
	res := dmarcResult{domain: domain}
	rec, ignored, sub, err := lookupDMARC(ctx, r, domain)
	switch {
	case err == errTempDNS:
		res.value, res.reason = "temperror", "policy lookup failed"
		return res
	case err == errNoPolicy:
		res.value = "none"
		return res
	case err == errManyRecords:
		res.value, res.reason = "none", "more than one DMARC record: no policy"
		return res
	case errors.As(err, new(*repeatedTagError)):
		res.value, res.reason = "none", "policy record: "+err.Error()
		return res
	case err != nil:
		res.value, res.reason = "permerror", "policy record: "+err.Error()
		return res
	}
	if len(ignored) > 0 {
		res.reason = "policy record: invalid " + strings.Join(ignored, ", ") + " ignored"
	}
	res.published = rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		res.published = rec.SubdomainPolicy
	}
	spfAligned := spfRes.value == "pass" && aligned(spfRes.domain, domain, rec.SPFAlignment)
	dkimAligned, dkimTemp := false, false
	for _, d := range dkims {
		if d.value == "pass" && aligned(d.domain, domain, rec.DKIMAlignment) {
			dkimAligned = true
		}
		dkimTemp = dkimTemp || d.value == "temperror"
	}
	if spfAligned || dkimAligned {
		res.value = "pass"
		return res
	}
	res.value, res.policy = "fail", res.published
	if rec.Percent != nil && *rec.Percent < 100 && !sample(*rec.Percent) {
		// RFC 7489 §6.6.4: outside the sample, the next lower policy.
		switch res.policy {
		case dmarc.PolicyReject:
			res.policy = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			res.policy = dmarc.PolicyNone
		}
	}
	if spfRes.value == "temperror" || dkimTemp {
		// Had DNS answered, SPF or DKIM might have passed.
		res.value, res.reason = "temperror", "SPF or DKIM could not be evaluated"
	}
	return res
}
