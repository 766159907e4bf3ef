package smtp

import (
	"strings"

	"umbra/internal/mailaddr"
)

// The EHLO/HELO argument (RFC 5321 §4.1.1.1, §4.1.3, §4.1.2): one
// Domain or one address literal, nothing after it. The layer refuses any
// other argument with 501 5.5.4 before go-smtp takes it (framing.go), so
// the name a session holds — the Received field's "from", the HELO
// identity of SPF, ConnInfo.Helo, the queue record and the tracking log —
// is always one of these. A valid name is never refused for not matching
// the client's address (that is the HELO checks' business, connfilter).
//
//   - Domain: dot-separated labels of letters, digits and hyphens, each
//     1 to 63 octets, not starting or ending with a hyphen, at most 255
//     octets in all; no final dot (umbra's own client drops the one an
//     absolute server.name carries). An underscore is tolerated in a
//     label, as server.name allows it (host names of Windows machines
//     carry one; it is an atom of RFC 5322's Received syntax all the same).
//   - Address literal: [IPv4] with four decimal numbers 0-255, or
//     [IPv6:address] (the tag in any case, no zone). No other tag is
//     registered (RFC 5321 §4.1.3's General-address-literal).
//   - Internationalised names: only the A-label (xn--) form, and only a
//     valid one (mailaddr.Domain: "xn--zz" is refused, as at RCPT). The
//     client cannot know at EHLO whether SMTPUTF8 is offered, so RFC 6531
//     §3.7.1 has every name of this dialogue in A-labels; a U-label (or
//     any other non-ASCII byte) is refused.
//   - A bare IPv4 address (1.2.3.4) is Domain syntax and is taken, as
//     many clients send it; the Received field writes it as the address
//     literal it stands for ([1.2.3.4], traceName), never as a name.
//   - No argument at all is a syntax error: 501 5.5.2 (framing.go).

// greetingSyntax is the reply to an EHLO/HELO whose argument (non-empty,
// spaces around it trimmed) is not a Domain or an address literal, ""
// when it is one. The reply names what is wrong, never the client's text.
func greetingSyntax(verb, arg string) string {
	why := ""
	switch {
	case strings.ContainsAny(arg, " "):
		why = "one name only, no parameters"
	case !isASCII(arg):
		why = "an internationalised name must be sent in its A-label (xn--) form"
	case strings.HasPrefix(arg, "["):
		if !validAddressLiteral(arg) {
			why = "not a valid address literal ([192.0.2.1] or [IPv6:2001:db8::1])"
		}
	case !validDomainSyntax(arg):
		why = "not a valid domain name (letters, digits, hyphens, underscores, dots)"
	default:
		// An A-label IDNA refuses (xn--zz) is refused as RCPT refuses
		// it (553 5.1.3 there): the Received field would carry a name
		// that is no domain.
		if _, err := mailaddr.Domain(arg); err != nil {
			why = "not a valid internationalised name (an A-label IDNA refuses)"
		}
	}
	if why == "" {
		return ""
	}
	return "501 5.5.4 Invalid " + verb + " argument: " + why
}

// validGreetingName: name is what greetingSyntax takes.
func validGreetingName(name string) bool {
	return name != "" && greetingSyntax("EHLO", name) == ""
}

// validDomainSyntax: RFC 5321's Domain in ASCII (underscores tolerated),
// its labels checked as a recipient's domain's (validLabels), up to the
// 255 octets RFC 5321 §4.5.3.1.2 allows a greeting's name.
func validDomainSyntax(s string) bool {
	return s != "" && len(s) <= 255 && isASCII(s) && validLabels(strings.ToLower(s))
}

// validAddressLiteral: "[" IPv4 "]" or "[IPv6:" IPv6 "]", read by the
// one reader of a literal (mailaddr.ParseLiteral), RCPT's and MAIL's too.
func validAddressLiteral(s string) bool {
	_, err := mailaddr.ParseLiteral(s)
	return err == nil
}
