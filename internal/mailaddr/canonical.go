package mailaddr

import "strings"

// CanonicalDomain is the form of a domain umbra stores, routes and
// delivers by, whatever path the address came in by: without its final
// dot (RFC 5321 §4.1.2: a Domain has none) and with its ASCII letters
// folded (Fold). An address literal ([192.0.2.1]) is returned as it is.
// An internationalised domain keeps the form it was written in (its
// comparison key is DomainKey).
func CanonicalDomain(d string) string {
	if strings.HasPrefix(d, "[") {
		return d
	}
	return Fold(strings.TrimSuffix(d, "."))
}

// Canonical is addr (local@domain) in the one form RCPT stores: the
// local part as written, the domain CanonicalDomain. Every path by which
// a recipient or sender enters the queue (RCPT, pickup files, a check's
// added recipients, redelivery, DSN recipients, CLI and admin paths,
// route explain) gives the address this form, so that validation, the
// Maildir path and the relayed RCPT see the same address (rt16d F1). An
// address without "@" is returned as it is.
func Canonical(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	d := addr[at+1:]
	c := CanonicalDomain(d)
	if c == d {
		return addr // the usual case, on every attempt's plan: no copy
	}
	return addr[:at+1] + c
}

// IsCanonical reports whether addr is in its canonical form.
func IsCanonical(addr string) bool { return Canonical(addr) == addr }
