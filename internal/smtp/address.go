package smtp

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"
	"net/netip"
	"strings"
	"umbra/internal/mailaddr"
	"unicode/utf8"
)

// Address is a checked mailbox address.
type Address struct {
	Local  string
	Domain string // lower-cased; an address literal keeps its brackets
}

func (a Address) String() string { return a.Local + "@" + a.Domain }

// Literal reports whether the domain is an address literal ([192.0.2.1],
// [IPv6:2001:db8::1]).
func (a Address) Literal() bool { return strings.HasPrefix(a.Domain, "[") }

// LiteralAddr is the IP address of an address-literal domain.
func (a Address) LiteralAddr() (netip.Addr, bool) {
	if !a.Literal() {
		return netip.Addr{}, false
	}
	ip, err := mailaddr.ParseLiteral(a.Domain)
	return ip, err == nil
}

// ASCII reports whether the address needs no SMTPUTF8.
func (a Address) ASCII() bool { return isASCII(a.Local) && isASCII(a.Domain) }

var (
	// errAddrSyntax is what every syntaxError is: a refusal always
	// carries its reason (syntaxError), never this bare error.
	errAddrSyntax = errors.New("bad address syntax")
	errAddrLength = &syntaxError{"the address is longer than 254 octets"}
	// errNotDomain: the domain is IPv6 address text (::1): RCPT refuses
	// it as it refuses IP text and literals (550 5.1.2), never a lookup.
	errNotDomain = errors.New("domain is IP-address text, not a domain name")
	// errDomainPort: a domain (or IP text) with a port (relay.test:25):
	// an address names no port; refused (550 5.1.2) for what it is —
	// it is no IP address (rt18c-F6).
	errDomainPort = errors.New("domain has a port: an address names a domain, not a server's port")
)

// syntaxError is an address syntax error whose reason is known in fixed
// words (mailaddr.LocalDots): the refusal names it after "Bad recipient
// (sender) address syntax: ". It is errAddrSyntax to errors.Is.
type syntaxError struct{ why string }

func (e *syntaxError) Error() string        { return errAddrSyntax.Error() + ": " + e.why }
func (e *syntaxError) Is(target error) bool { return target == errAddrSyntax }

// syntaxReply is the refusal of an address by its syntax: base (501
// 5.1.3 for a recipient, 5.1.7 for a sender) with the reason named —
// always one: no refusal of a path is the bare reply (rt49 front F2,
// FuzzPathRefusalNamesFault).
func syntaxReply(err error, base *gosmtp.SMTPError) *gosmtp.SMTPError {
	why := "the address is malformed"
	var se *syntaxError
	switch {
	case errors.As(err, &se):
		why = se.why
	case errors.Is(err, errNotDomain):
		why = "the domain is IPv6 address text without brackets"
	case errors.Is(err, errDomainPort):
		why = "the domain is followed by a port (domain:port)"
	}
	return &gosmtp.SMTPError{Code: base.Code, EnhancedCode: base.EnhancedCode, Message: base.Message + ": " + why}
}

// IPText reports whether the domain is IP-address text written without
// brackets (u@192.0.2.1, u@127.1; mailaddr.IPText): no domain, refused
// at RCPT (DomainRefusal) and never resolved.
func (a Address) IPText() bool { return mailaddr.IPText(a.Domain) }

// RecipientRefusal is RCPT's refusal of addr (a mailbox, without angle
// brackets) by its address alone, for a recipient that comes with no
// session (a pickup file): the address syntax (RcptRefusal), an address
// literal (replyAddressLiteral: no address was connected to, so none is
// this server's own), a domain that is IP-address text (DomainRefusal);
// nil when RCPT's address rules take it. The session's own rules (relay
// rights, validation, SMTPUTF8) are the caller's.
func RecipientRefusal(addr string) *gosmtp.SMTPError {
	// A mailbox in its RFC 5321 form: a quoted local part ("an na"@…)
	// is read as a path's (RcptPath), then quoted again as RCPT stores
	// it.
	p, err := RcptPath(addr)
	if err != nil {
		return RcptRefusal(err)
	}
	if p == postmasterPath {
		p = addr // a bare postmaster is no mailbox here
	}
	a, err := parsePathAddress(p)
	if err != nil {
		return RcptRefusal(err)
	}
	if a.Literal() {
		return replyAddressLiteral
	}
	return DomainRefusal(a)
}

// DomainRefusal is RCPT's refusal of a's domain when it is no name to
// route by — IP-address text (550 5.1.2) — or nil. An address literal
// has its own reply (replyAddressLiteral, with its postmaster
// exception). route explain asks it too, so both say the same.
func DomainRefusal(a Address) *gosmtp.SMTPError {
	if a.IPText() {
		return replyNotDomain
	}
	return nil
}

// replyNotDomain refuses a recipient whose domain is IP-address text:
// resolving it as a host name would reach the address it spells, which
// no policy allowed.
var replyNotDomain = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 2},
	Message: "Recipient address rejected: the domain is an IP address, not a domain name (umbra delivers to domains only)"}

// replyDomainPort refuses a recipient whose domain carries a port
// (errDomainPort).
var replyDomainPort = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 2},
	Message: "Recipient address rejected: the domain is followed by a port (domain:port); an address names a domain only, write it without the port"}

// literalReply refuses an address whose domain is in brackets but no
// address literal (mailaddr.ParseLiteral: "[IPv6:1.2.3.4]", "[::1]",
// "[not-an-ip]", a "[" never closed): a syntax error, 501 with the
// enhanced code of a bad sender (5.1.7) or recipient (5.1.3) address,
// saying what is wrong in the parser's fixed words (never the client's
// text); nil for another error.
func literalReply(err error, enhanced int) *gosmtp.SMTPError {
	var le *mailaddr.LiteralError
	if !errors.As(err, &le) {
		return nil
	}
	what := "recipient"
	if enhanced == 7 {
		what = "sender"
	}
	return &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, enhanced},
		Message: "Bad " + what + " address syntax: the domain is in brackets but no address literal: " + le.Reason}
}

// IDNError is an address whose domain has an internationalised label
// IDNA refuses (mailaddr.Domain): bad punycode after "xn--", a character
// IDNA disallows.
type IDNError struct{ Err error }

func (e *IDNError) Error() string { return e.Err.Error() }

// idnReply is the refusal of an address with an invalid
// internationalised domain: 553 (mailbox name not allowed) with the
// enhanced code of a bad sender (5.1.7) or recipient (5.1.3) address,
// naming the label refused.
func idnReply(err error, enhanced int) error {
	var idn *IDNError
	if !errors.As(err, &idn) {
		return nil
	}
	// The label is the client's text: echoed as all client text is
	// (replyecho.go), bounded — its raw bytes, never the error's Go
	// quoting ("exa\u00admple" would be a second escape rule).
	text := string(echoText([]byte(strings.TrimPrefix(idn.Error(), "invalid internationalized domain name "))))
	if le := (*mailaddr.LabelError)(nil); errors.As(idn.Err, &le) {
		// A label holds no backslash (validLabels) and is at most 63
		// octets: written raw here, the reply line's writer escapes
		// it (escapeEcho: \xNN, or — in an SMTPUTF8 transaction, RFC
		// 6531 §3.7.4 — only what is not a graphic character).
		text = "label " + le.Label + ": " + le.Reason
	}
	return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, enhanced},
		Message: "Invalid internationalized domain name: " + text}
}

// RcptRefusal is RCPT TO's reply to an address its parse refused
// (ParseRcptPath, parsePathAddress): 553 5.1.3 naming the label for an
// invalid internationalised domain, 550 5.1.2 for a domain that is
// IP-address text or has a port — each said for what it is —, 501 5.1.3
// saying what is wrong for a malformed address literal
// (mailaddr.ParseLiteral), else 501 5.1.3.
// route explain answers with it too, so both say the same.
func RcptRefusal(err error) *gosmtp.SMTPError {
	if r := idnReply(err, 3); r != nil {
		return r.(*gosmtp.SMTPError)
	}
	switch {
	case errors.Is(err, errNotDomain):
		return replyNotDomain
	case errors.Is(err, errDomainPort):
		return replyDomainPort
	}
	if r := literalReply(err, 3); r != nil {
		return r
	}
	return syntaxReply(err, replyBadRcpt)
}

// UTF8Refusal is the refusal of address a from a client that did or
// did not say SMTPUTF8 at MAIL (smtputf8): 553 5.6.7 for an address with
// a non-ASCII character (RFC 6531 §3.5), nil otherwise. MAIL, RCPT, a
// check's added recipient and route explain (--smtputf8=false) ask it,
// so all say the same.
func UTF8Refusal(a Address, smtputf8 bool) *gosmtp.SMTPError {
	if !smtputf8 && !a.ASCII() {
		return replyNeedUTF8
	}
	return nil
}

// RawUTF8Refusal is UTF8Refusal of an address as written, before it is
// parsed: one rule for non-ASCII (front47 F2) — an address that holds
// any needs SMTPUTF8 first (553 5.6.7), whatever else is wrong with it;
// only with SMTPUTF8 is an invalid internationalised label judged (553
// 5.1.3, naming its rune readably). Bytes that are no UTF-8 are a
// syntax error either way (ParseAddress). MAIL, RCPT and route explain
// ask it before they parse.
func RawUTF8Refusal(addr string, smtputf8 bool) *gosmtp.SMTPError {
	if !smtputf8 && !isASCII(addr) && utf8.ValidString(addr) {
		return replyNeedUTF8
	}
	return nil
}

// ParseAddress checks a mailbox address as go-smtp hands it over (angle
// brackets removed, quoted local parts kept): a local part of at most 64
// octets, a domain or an address literal, at most 254 octets in all, valid
// UTF-8, no control characters, no unquoted spaces.
func ParseAddress(s string) (Address, error) {
	if len(s) > 254 {
		return Address{}, errAddrLength
	}
	if !utf8.ValidString(s) {
		return Address{}, &syntaxError{"bytes that are not UTF-8"}
	}
	at := strings.LastIndexByte(s, '@')
	switch {
	case at < 0:
		return Address{}, &syntaxError{"no '@' and domain"}
	case at == 0:
		return Address{}, &syntaxError{"an empty local part"}
	case at == len(s)-1:
		return Address{}, &syntaxError{"no domain after '@'"}
	}
	local, domain := s[:at], s[at+1:]
	if !strings.HasPrefix(local, `"`) {
		if why := mailaddr.LocalDots(local); why != "" {
			return Address{}, &syntaxError{why}
		}
	}
	if len(local) > 64 {
		return Address{}, &syntaxError{"the local part is longer than 64 octets"}
	}
	if !validLocal(local) {
		return Address{}, &syntaxError{localFault(local)}
	}
	if strings.HasPrefix(local, `"`) {
		if why := mailaddr.QuotedLocalDots(quotedContent(local)); why != "" {
			return Address{}, &syntaxError{why} // rt36 front F3
		}
	}
	if strings.HasPrefix(domain, "[") {
		if !strings.HasSuffix(domain, "]") {
			if _, port, ok := strings.Cut(domain, "]:"); ok && mailaddr.ValidPort(port) {
				return Address{}, errDomainPort // [192.0.2.1]:25
			}
		}
		// The one reader of a literal, the EHLO argument's too.
		if _, err := mailaddr.ParseLiteral(domain); err != nil {
			return Address{}, err
		}
		return Address{Local: local, Domain: domain}, nil
	}
	if strings.ContainsRune(domain, ':') {
		v6, _ := mailaddr.CutIPv6Tag(domain)
		if _, err := netip.ParseAddr(v6); err == nil {
			return Address{}, errNotDomain // an IPv6 address without brackets
		}
		colon := strings.LastIndexByte(domain, ':')
		host, port := domain[:colon], domain[colon+1:]
		if mailaddr.ValidPort(port) && !strings.ContainsRune(host, ':') && (mailaddr.IPText(host) || validDomain(mailaddr.CanonicalDomain(host))) {
			return Address{}, errDomainPort
		}
		return Address{}, &syntaxError{"a ':' in the domain"}
	}
	written := strings.TrimSuffix(domain, ".")
	asWritten := domain
	domain = mailaddr.CanonicalDomain(domain) // the one canonical form (mailaddr.Canonical)
	if !validDomain(domain) {
		// The dots as written: the final one canonical form takes off
		// is one of two in a row in "example.test.." (front38 F4).
		if why := mailaddr.DomainDots(asWritten); why != "" {
			return Address{}, &syntaxError{why}
		}
		if aLabel(written) {
			// An A-label IDNA refuses is named as such, as one the
			// label rules take would be ("xn--example-": its punycode,
			// not its final hyphen, is what is wrong).
			if _, err := mailaddr.Domain(written); err != nil {
				return Address{}, &IDNError{err}
			}
		}
		return Address{}, &syntaxError{domainFault(domain)}
	}
	// An internationalised domain (a U-label, or an A-label) must be
	// one IDNA takes: its A-label is how umbra compares it (accepted
	// domains, routing, the directory). The address keeps the form the
	// sender wrote. Judged on the domain as written (Domain folds the
	// case itself): a refusal names the label as the client wrote it
	// (rt31b F3), not lower-cased.
	if _, err := mailaddr.Domain(written); err != nil {
		return Address{}, &IDNError{err}
	}
	return Address{Local: local, Domain: domain}, nil
}

// aLabel reports whether a label of d begins with "xn--" in any case
// (an A-label, RFC 5890).
func aLabel(d string) bool {
	for _, l := range strings.Split(d, ".") {
		if len(l) >= 4 && strings.EqualFold(l[:4], "xn--") {
			return true
		}
	}
	return false
}

// domainFault says, in fixed words (a character named only when it is
// printable ASCII), why domain (canonical form: lower-cased, a final
// dot gone) is no domain validDomain takes. Its dots are
// mailaddr.DomainDots's, judged before.
func domainFault(d string) string {
	if d == "" {
		return "no domain after '@'"
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if c < 0x80 && !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return charFault(c, "the domain")
		}
	}
	if len(d) > 253 {
		return "the domain is longer than 253 octets"
	}
	for _, l := range strings.Split(d, ".") {
		switch {
		case l == "":
			return "an empty label in the domain"
		case len(l) > 63:
			return "a domain label longer than 63 octets"
		case l[0] == '-':
			return "a domain label begins with '-'"
		case l[len(l)-1] == '-':
			return "a domain label ends with '-'"
		}
	}
	return "the domain is no domain name"
}

// charFault names character c found where it may not be (in the
// domain, in the local part): printable ASCII by itself, anything else
// by its class, never echoed raw.
func charFault(c byte, where string) string {
	switch {
	case c == ' ' || c == '\t':
		return "a space in " + where
	case c < 0x20 || c == 0x7f:
		return "a control character in " + where
	}
	return "a '" + string(c) + "' in " + where
}

// localFault says why validLocal refused local, in fixed words.
func localFault(l string) string {
	if strings.HasPrefix(l, `"`) {
		if len(l) < 2 || !strings.HasSuffix(l, `"`) {
			return "an unterminated quoted local part"
		}
		inner := l[1 : len(l)-1]
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			if c < 0x20 || c == 0x7f {
				return "a control character in the local part"
			}
			if c == '\\' {
				if i++; i == len(inner) {
					return "a '\\' ending the quoted local part"
				}
				if inner[i] < 0x20 || inner[i] > 0x7e {
					return "a control character in the local part"
				}
			} else if c == '"' {
				return "a '\"' inside the quoted local part"
			}
		}
		return "the quoted local part is malformed"
	}
	if strings.HasPrefix(l, ".") || strings.HasSuffix(l, ".") || strings.Contains(l, "..") {
		return "the local part has a misplaced dot"
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; c < 0x80 && !strings.ContainsRune(localAtext, rune(c)) {
			return charFault(c, "the local part") + " (quote the local part)"
		}
	}
	return "the local part is malformed"
}

func validLocal(l string) bool {
	if strings.HasPrefix(l, `"`) {
		if len(l) < 2 || !strings.HasSuffix(l, `"`) {
			return false
		}
		inner := l[1 : len(l)-1]
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			if c < 0x20 || c == 0x7f {
				return false
			}
			if c == '\\' {
				// quoted-pairSMTP: a backslash and one printable ASCII character
				i++
				if i == len(inner) || inner[i] < 0x20 || inner[i] > 0x7e {
					return false
				}
			} else if c == '"' {
				return false
			}
		}
		return true
	}
	if strings.HasPrefix(l, ".") || strings.HasSuffix(l, ".") || strings.Contains(l, "..") {
		return false
	}
	for _, r := range l {
		if r < 0x80 && !strings.ContainsRune(localAtext, r) {
			return false
		}
	}
	return true
}

// validDomain accepts DNS names, including U-labels (SMTPUTF8).
func validDomain(d string) bool {
	return d != "" && len(d) <= 253 && validLabels(d)
}

// validLabels: every dot-separated label of d is 1–63 octets of lower-case
// letters, digits, hyphens (not first or last) and underscores, or
// non-ASCII (a U-label, checked by the IDNA mapping).
func validLabels(d string) bool {
	for rest, more := d, true; more; {
		var label string
		label, rest, more = strings.Cut(rest, ".")
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r < 0x80 && !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// asciiEqualFold compares a and b ignoring ASCII case only. Protocol
// names (postmaster, server ids) are ASCII: strings.EqualFold's Unicode
// folding would take "poſtmaster" (U+017F) or a KELVIN SIGN for s and
// k, and so for a name the rest of umbra (lookups, Maildir paths) does
// not take it for.
func asciiEqualFold(a, b string) bool {
	return mailaddr.EqualFold(a, b)
}

// RcptPath is the address a RCPT TO path (angle brackets optional) gives
// the session, by the rules of the client's RCPT: a source route
// (RFC 5321 §4.1.2, "@a,@b:") is ignored, a quoted local part is taken
// by its content (quoted-pairs unescaped), as go-smtp's parser does, and
// a bare "postmaster" (any ASCII case) is the postmaster path the verb
// layer hands go-smtp for it (rcptPostmaster). The result still has to
// pass parsePathAddress, which quotes again a local part that needs its
// quotes ("a b" is "a b"@…), as at RCPT. Recipients a check adds go through it, so that
// they get exactly what the same path in a RCPT would get.
func RcptPath(p string) (string, error) {
	p = strings.TrimSpace(p)
	if strings.HasPrefix(p, "<") {
		if !strings.HasSuffix(p, ">") {
			return "", &syntaxError{"no '>' ending the path"}
		}
		p = p[1 : len(p)-1]
	}
	if mailaddr.IsPostmaster(p) {
		return postmasterPath, nil
	}
	if strings.HasPrefix(p, "@") {
		i := strings.IndexByte(p, ':')
		if i < 0 {
			return "", &syntaxError{"a source route without ':'"}
		}
		if why := sourceRouteFault(p[:i]); why != "" {
			return "", &syntaxError{why}
		}
		p = p[i+1:]
	}
	if !strings.HasPrefix(p, `"`) {
		// A Dot-string as go-smtp reads one: up to the first "@", none
		// of the characters only a Quoted-string may hold (a space, a
		// quote, a backslash, a special): "a b@x" is no path.
		local, _, _ := strings.Cut(p, "@")
		if i := strings.IndexAny(local, "()<>[]:;\\,\" \t"); i >= 0 {
			return "", &syntaxError{charFault(local[i], "the local part") + " (quote the local part)"}
		}
		return p, nil
	}
	var sb strings.Builder
	for i := 1; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			if i++; i == len(p) {
				return "", &syntaxError{"an unterminated quoted local part"}
			}
			sb.WriteByte(p[i])
		case '"':
			if !strings.HasPrefix(p[i+1:], "@") {
				return "", &syntaxError{"no '@' and domain after the quoted local part"} // go-smtp wants the "@" right after the quote
			}
			return sb.String() + p[i+1:], nil
		default:
			sb.WriteByte(c)
		}
	}
	return "", &syntaxError{"an unterminated quoted local part"}
}

// ParseRcptPath is what RCPT TO takes from path p: the address
// (RcptPath, then parsePathAddress), or postmaster true for a bare
// postmaster, which the session maps to server.postmaster. Tools that
// say what RCPT would answer (route explain) read paths with it, so that
// they take a quoted local part or a source route exactly as RCPT does.
func ParseRcptPath(p string) (a Address, postmaster bool, err error) {
	path, err := RcptPath(p)
	if err != nil {
		return Address{}, false, err
	}
	if path == postmasterPath {
		return Address{}, true, nil
	}
	a, err = parsePathAddress(path)
	return a, false, err
}

// parsePathAddress is ParseAddress for an address read from a path
// (go-smtp's parser, RcptPath): the quotes of a quoted local part are
// gone by then, its quoted-pairs unescaped, so its content is quoted
// again (quotePathLocal) when it is no dot-string — a space, a quote, a
// backslash or another special (RFC 5321 qtextSMTP, quoted-pairSMTP) —
// and the address keeps that quoted form ("an na"@example.org), the one
// the queue, the outbound MAIL and RCPT, the DSN and the logs carry.
// Content that is itself in quotes ("\"a b\"") is that content, quoted
// again. A local part holding an "@" is refused: it could be read as
// another address (README, Addresses).
func parsePathAddress(s string) (Address, error) {
	q, err := quotePathLocal(s)
	if err != nil {
		return Address{}, err
	}
	return ParseAddress(q)
}

// ParseContentAddress is ParseAddress for an address whose local part
// is given by its content, its quotes gone (net/mail's Address.Address:
// "an na"@x is an na@x): the local part is quoted again where it needs
// the quotes, as RCPT's path is (parsePathAddress), so a header address
// is stored as RCPT stores the same mailbox.
func ParseContentAddress(s string) (Address, error) { return parsePathAddress(s) }

// quotePathLocal is s (local@domain, the local part as a path's content)
// with its local part written as an RFC 5321 Quoted-string when it is
// no dot-string: '"' and '\\' as quoted-pairs. A local part of atext
// and dots is left as it is (its dots are ParseAddress's to judge).
func quotePathLocal(s string) (string, error) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return s, nil // ParseAddress refuses it
	}
	local := s[:at]
	if !needsQuotes(local) {
		return s, nil
	}
	if strings.IndexByte(local, '@') >= 0 {
		return "", &syntaxError{"more than one '@' in the address"}
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + s[at:], nil
}

// needsQuotes reports whether local (a local part's content) holds an
// ASCII character that is neither atext nor a dot (RFC 5321 Dot-string):
// it can be written only as a Quoted-string. Control characters make it
// no address at all (ParseAddress refuses them, quoted or not).
func needsQuotes(local string) bool {
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c < 0x80 && !strings.ContainsRune(localAtext, rune(c)) {
			return true
		}
	}
	return false
}

// localAtext is the ASCII characters of an RFC 5321 Dot-string.
const localAtext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~."

// quotedContent is a valid quoted local part's content: its quotes gone,
// each quoted-pair its character.
func quotedContent(l string) string {
	inner := l[1 : len(l)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\\' && i+1 < len(inner) {
			i++
		}
		b.WriteByte(inner[i])
	}
	return b.String()
}
