package smtp

import (
	"net/netip"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/header"
	"umbra/internal/mailaddr"
)

// postmasterPath is what the verb layer hands go-smtp for the path
// <postmaster>, which go-smtp's parser refuses (it wants a domain). The
// .invalid top-level domain (RFC 2606) can name no real mailbox, so a
// client that sends it itself gets exactly what <postmaster> gets.
const postmasterPath = "postmaster@postmaster.invalid"

// rcptPostmaster rewrites the path <postmaster> (any case, RFC 5321
// §4.5.1) of a RCPT line read once (ml: its path where go-smtp reads it,
// pathSpan) to postmasterPath for go-smtp, when the server has a
// postmaster address, and returns the path as the client gave it for
// the reply. Any other line is left as it is, and "" returned.
func rcptPostmaster(ml *mailLine, configured bool) (given string) {
	if !configured || !ml.postmasterPath() {
		return ""
	}
	p := ml.pathBytes()
	given = string(p)
	if p[0] != '<' {
		given = "<" + given + ">" // the reply names it as a path, as every other one
	}
	ml.setPath("<" + postmasterPath + ">")
	return given
}

// postmasterAlias maps the postmaster path to the configured postmaster
// address; isPostmaster says the recipient is the postmaster, whom
// anyone may write to whatever the connector's rights.
func (s *session) postmasterAlias(to string) (addr string, isPostmaster bool) {
	if s.srv.postmaster != "" && asciiEqualFold(to, postmasterPath) {
		return s.srv.postmaster, true
	}
	return to, false
}

// replyAddressLiteral refuses a recipient at an address literal: umbra
// routes by domain (DNS MX), and a literal is no name to route by.
var replyAddressLiteral = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 2},
	Message: "Recipient address rejected: address literals are not accepted here, use a domain"}

// ownPostmasterLiteral reports whether a (an address-literal recipient)
// is postmaster at the address the client connected to: RFC 5321
// §4.5.1 asks a server to take postmaster@[its own literal]. It is this
// server's postmaster (none configured: refused like any literal).
func (s *session) ownPostmasterLiteral(a Address) bool {
	if s.srv.postmaster == "" || !mailaddr.IsPostmaster(a.Local) {
		return false
	}
	lit, ok := a.LiteralAddr()
	if !ok {
		return false
	}
	local, err := netip.ParseAddrPort(s.raw.LocalAddr().String())
	return err == nil && local.Addr().Unmap() == lit.Unmap()
}

var replyTooManyHops = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 4, 6}, Message: "Too many hops (Received: headers): mail loop"}

// internalHops is the room for the organisation's own hops that a
// message entering it must leave under max_hop_count (entryHeadroom).
const internalHops = 10

// entryHeadroom is the number of umbra hops a message entering the
// organisation must still have under max_hop_count: internalHops, at
// most half of max_hop_count. Every umbra hop adds a Received field and
// the next one counts it, so a limit applied alike at every hop would
// let one hop take a message that the next must refuse (a DSN to a
// possibly forged sender: rt44 M1). Instead the limit for outside mail
// is max_hop_count - entryHeadroom, taken where the mail enters; among
// the organisation's transport servers the limit is max_hop_count, and
// a relay leaves only with room for the next hop's field
// (internal/delivery loop.go): so a message taken where it entered is
// refused further on only when it has gone round more than
// entryHeadroom umbra hops — a loop inside the organisation.
func entryHeadroom(max int) int {
	return min(internalHops, max/2)
}

// hopLimit is the most Received fields (umbra's own included) a message
// of this session may carry: max_hop_count from an authenticated
// transport server of the organisation, max_hop_count - entryHeadroom
// from anyone else (the message enters the organisation here).
func (s *session) hopLimit() int {
	if s.trustedServer() {
		return s.srv.maxHops
	}
	return s.srv.maxHops - entryHeadroom(s.srv.maxHops)
}

// receivePolicy checks and edits an arriving message (trace header
// included) before it is queued: more Received: headers than hopLimit
// is a mail loop (554 5.4.6; umbra's own header counts, as the message
// would leave with it), as is a Delivered-To naming one of its
// recipients (554 5.4.6, the whole message), and a Return-Path is removed: only
// final delivery adds one (RFC 5321 §4.4).
func (s *session) receivePolicy(body []byte) ([]byte, *gosmtp.SMTPError) {
	if s.srv.maxHops > 0 {
		if n, limit := header.Count(body, "Received"), s.hopLimit(); n > limit {
			s.srv.refusals.log(s.log, "message rejected", "too_many_hops", replyTooManyHops, s.ip,
				"received_headers", n, "hop_limit", limit, "max_hop_count", s.srv.maxHops)
			return nil, replyTooManyHops
		}
	}
	if addr := s.deliveredBefore(body); addr != "" {
		s.srv.refusals.log(s.log, "message rejected", "delivered_to_loop", replyDeliveredLoop, s.ip, "rcpt", addr)
		return nil, replyDeliveredLoop
	}
	return header.Remove(body, "Return-Path"), nil
}

// replyDeliveredLoop refuses a message that already carries a
// Delivered-To naming one of its recipients.
var replyDeliveredLoop = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 4, 6}, Message: "Mail loop: the message was delivered to a recipient before (Delivered-To)"}

// deliveredBefore returns a recipient of the transaction that an arriving
// Delivered-To names, "" when none is. Such a recipient is a loop, and
// final delivery would fail it permanently (5.4.6): decided here, at
// DATA, the whole message is refused and the client — not a possibly
// forged sender, by a DSN — learns of it, on every server (edge and hub).
func (s *session) deliveredBefore(body []byte) string {
	// Compared as the recipient set compares (rcptKey): a relayed
	// domain's local part exactly, its destination's to interpret. The
	// fields' keys once per message, each recipient's once.
	seen := FieldAddressKeys(body, "Delivered-To", s.rcptKey)
	if len(seen) == 0 {
		return ""
	}
	for _, r := range s.rcpt {
		if seen[s.rcptKey(r.Addr)] {
			return r.Addr
		}
	}
	return ""
}

// FieldAddressKeys is the set of keys (key: a recipient set's, such as
// mailaddr.RcptKey, whose local part folds only for a domain this
// organisation is authoritative for) of the addresses the fields called
// name hold (header.AddressPaths), each read as RCPT reads its path
// (ParseRcptPath: a source route dropped, a quoted local part by its
// content, quoted again where it needs the quotes, as RCPT stores it):
// a Delivered-To final delivery wrote for a stored recipient names that
// recipient, whatever its local part holds ("\"abc"@x, an unclosed quote
// in its content, too). A field RCPT would refuse, or a bare
// postmaster, names nobody. Built once per message, each recipient then
// one look-up; nil when there is no such field.
func FieldAddressKeys(body []byte, name string, key func(string) string) map[string]bool {
	var set map[string]bool
	for _, p := range header.AddressPaths(body, name) {
		a, postmaster, err := ParseRcptPath(p)
		if err != nil || postmaster {
			continue
		}
		if set == nil {
			set = map[string]bool{}
		}
		set[key(a.String())] = true
	}
	return set
}

// HasFieldAddress reports whether a field called name holds addr,
// compared as umbra compares recipients (mailaddr.AddrKey: ASCII case,
// an internationalised domain in either form, a final dot), each field
// read as RCPT reads a path (FieldAddressKeys).
func HasFieldAddress(body []byte, name, addr string) bool {
	key := func(a string) string { return mailaddr.AddrKey(strings.TrimSuffix(a, ".")) }
	return FieldAddressKeys(body, name, key)[key(addr)]
}
