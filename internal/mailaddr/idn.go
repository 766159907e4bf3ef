package mailaddr

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Domain is the comparison key of a domain (or a "*.domain" pattern):
// every internationalised label — one with a byte above ASCII, or an
// A-label ("xn--…" in any case) — as its lower-case A-label under IDNA
// 2008's lookup rules (UTS #46 mapping, non-transitional: "ß" stays
// "ß"), every other label as Fold gives it. So "bücher.example",
// "BÜCHER.example" and "XN--BCHER-KVA.example" have one key,
// "xn--bcher-kva.example". ASCII labels that are not A-labels are not
// run through IDNA ("_dmarc", "ab--c" stay as DNS takes them). An
// internationalised label IDNA refuses (bad punycode, a disallowed
// character, bytes that are not UTF-8) is an error naming it; so is one
// with a non-ASCII character that only stands for ASCII (asciiStandIn:
// KELVIN SIGN, a full-width letter), which IDNA 2008 disallows though
// UTS #46 maps it: "\u212Aiosk.test" is not "kiosk.test"; and so is one
// with a character UTS #46 deletes (ignoredRune: a soft hyphen, a zero
// width space, a variation selector): "exa\u00admple.test" is not
// "example.test".
func Domain(s string) (string, error) {
	if !needsIDNA(s) {
		return Fold(s), nil
	}
	labels := strings.Split(s, ".")
	for i, l := range labels {
		if !labelNeedsIDNA(l) {
			labels[i] = Fold(l)
			continue
		}
		if !utf8.ValidString(l) {
			return "", &LabelError{Label: l, Reason: "not UTF-8"}
		}
		if r, ok := asciiStandIn(l); ok {
			return "", &LabelError{Label: l, Reason: fmt.Sprintf("disallowed rune %U", r)}
		}
		if r, ok := ignoredRune(l); ok {
			return "", &LabelError{Label: l, Reason: fmt.Sprintf("disallowed rune %U (IDNA ignores it)", r)}
		}
		a, err := idna.Lookup.ToASCII(l)
		if err != nil {
			return "", &LabelError{Label: l, Reason: idnaReason(l, err)}
		}
		labels[i] = Fold(a)
	}
	return strings.Join(labels, "."), nil
}

// DomainKey is Domain's key, or for a domain Domain refuses, Fold's: an
// invalid name then matches only itself, as before IDNA was applied.
func DomainKey(s string) string {
	if k, err := Domain(s); err == nil {
		return k
	}
	return Fold(s)
}

// AddrKey is the comparison key of an address local@domain: Fold's for
// the local part (ASCII letters only), DomainKey's for the domain. A
// string without "@" (a recipient map's domain entry) is a domain:
// DomainKey's.
func AddrKey(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return DomainKey(addr)
	}
	if !needsIDNA(addr[at+1:]) {
		return Fold(addr)
	}
	return Fold(addr[:at]) + "@" + DomainKey(addr[at+1:])
}

// AddrForms are the forms of an address (or, without "@", a domain) a
// store umbra does not write may hold it in — a directory, compared by
// its own rules, knows nothing of IDNA: addr as given, then with its
// domain as the lower-case A-label (DomainKey), then as the U-label
// IDNA gives back for it; each once, the local part as given. An ASCII
// domain that is no A-label, or one IDNA refuses, has one form. Match
// what such a store returns by AddrKey.
func AddrForms(addr string) []string {
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at+1], addr[at+1:]
	if !needsIDNA(domain) {
		return []string{addr}
	}
	a, err := Domain(domain)
	if err != nil {
		return []string{addr}
	}
	out := []string{addr}
	if f := local + a; f != addr {
		out = append(out, f)
	}
	if u, err := idna.Lookup.ToUnicode(a); err == nil {
		if f := local + u; f != addr && f != out[len(out)-1] {
			out = append(out, f)
		}
	}
	return out
}

// asciiStandIn is the first non-ASCII character of label l that UTS #46
// maps to ASCII only (U+212A KELVIN SIGN to "k", U+FF4B to "k", U+FF0E
// to "."): IDNA 2008 disallows each, and a domain written with one would
// otherwise be taken as the ASCII domain it imitates. Case mapping to a
// non-ASCII letter ("Ü" to "ü") is kept.
func asciiStandIn(l string) (rune, bool) {
	for _, r := range l {
		if r < utf8.RuneSelf {
			continue
		}
		m, _ := idna.Lookup.ToUnicode(string(r))
		if m != "" && strings.IndexFunc(m, func(c rune) bool { return c >= utf8.RuneSelf }) < 0 {
			return r, true
		}
	}
	return 0, false
}

// ignoredRune is the first character of label l that UTS #46 maps to
// nothing (U+00AD SOFT HYPHEN, U+200B ZERO WIDTH SPACE, U+2060, U+FEFF,
// the variation selectors, U+034F, …): IDNA would delete it, so
// "exa\u00admple.test" would be a second spelling of "example.test",
// one the accepted-domain, relay and block lists never see written.
// (U+200C and U+200D IDNA keeps, and refuses outside the context that
// allows them.)
func ignoredRune(l string) (rune, bool) {
	for _, r := range l {
		if r < utf8.RuneSelf {
			continue
		}
		if m, err := idna.Lookup.ToUnicode(string(r)); err == nil && m == "" {
			return r, true
		}
	}
	return 0, false
}

// needsIDNA reports whether some label of s is internationalised.
func needsIDNA(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return strings.Contains(Fold(s), "xn--")
}

func labelNeedsIDNA(l string) bool {
	for i := 0; i < len(l); i++ {
		if l[i] >= utf8.RuneSelf {
			return true
		}
	}
	return len(l) >= 4 && EqualFold(l[:4], "xn--")
}

// LabelError is Domain's refusal of an internationalised label: the
// label as given (raw bytes, the client's or the configuration's text)
// and the reason in ASCII. Its Error quotes the label for a log or a
// configuration error (quoteLabel); an SMTP reply echoes Label itself
// in the one form every reply shows client text (package smtp's
// echoText: \xNN for each byte outside printable ASCII), never Go's
// quoting.
type LabelError struct {
	Label  string
	Reason string
}

func (e *LabelError) Error() string {
	return "invalid internationalized domain name label " + quoteLabel(e.Label) + ": " + e.Reason
}

// quoteLabel is l as an error shows it: as it is when printable UTF-8,
// else Go-quoted (a byte as \xff).
func quoteLabel(l string) string {
	if q := strconv.Quote(l); q[1:len(q)-1] != l {
		return q
	}
	return l
}

// EarlierKeys are the keys stores umbra writes held addr under before
// AddrKey was their one key — Fold's (ASCII case only, the domain as
// written), and before that strings.ToLower's — without AddrKey's own
// and each once, in that order; nil where they agree with it. A store
// keyed by address writes AddrKey(addr) and looks up these too, so what
// an earlier release wrote keeps working (an internationalised domain's
// U-label form, "anna@bücher.example", keys now as its A-label). The
// lower-cased form is looked up only where lowering merges nothing this
// package keeps apart (lowerKeepsApart): never for a local part with a
// non-ASCII capital ("JÖRG" is not "jörg") nor a character that lowers
// to ASCII (U+212A KELVIN SIGN is not "k").
func EarlierKeys(addr string) []string {
	key := AddrKey(addr)
	cands := []string{Fold(addr)}
	if lowerKeepsApart(addr) {
		cands = append(cands, strings.ToLower(addr))
	}
	var out []string
	for _, k := range cands {
		if k != key && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// lowerKeepsApart reports whether strings.ToLower changes, beyond ASCII
// case, only non-ASCII letters of addr's domain, each to a non-ASCII one.
func lowerKeepsApart(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	for i, r := range addr {
		if r < utf8.RuneSelf {
			continue
		}
		if l := unicode.ToLower(r); l < utf8.RuneSelf || l != r && i < at {
			return false
		}
	}
	return true
}

// RcptKey is the key of a recipient in the recipient set of one message
// (RCPT's repeats, a pickup file's, a check's additions and deletions,
// the copies of one message merged in the queue). Only the destination
// host interprets a local part (RFC 5321 §2.4), and it may tell
// "TD@good.test" from "td@good.test": so the local part is compared
// exactly as written, and only the domain by its key (DomainKey: ASCII
// case, the A-label of an internationalised name) — unless owned (a
// domain this organisation is authoritative for, whose mailboxes its
// directory and Maildir match in ASCII case): then AddrKey's. A string
// without "@" is a domain: DomainKey's.
func RcptKey(addr string, owned bool) string {
	if owned {
		return AddrKey(addr)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return DomainKey(addr)
	}
	d := addr[at+1:]
	if k := DomainKey(d); k != d {
		return addr[:at+1] + k
	}
	return addr
}

// idnaReason is the reason of a label IDNA refuses, in fixed words: the
// idna package's "invalid label %q" quotes the label decoded from its
// punycode in Go's escapes ("\u0082"), a second escape rule beside the
// one of umbra's replies and logs, and text the client never wrote.
func idnaReason(label string, err error) string {
	r := strings.TrimPrefix(err.Error(), "idna: ")
	if !strings.HasPrefix(r, "invalid label ") {
		return r // "disallowed rune U+…" and the like: no client text
	}
	if len(label) >= 4 && strings.EqualFold(label[:4], "xn--") {
		return "its punycode decodes to no valid label"
	}
	return "IDNA refuses the label"
}
