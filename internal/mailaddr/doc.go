// Package mailaddr is the one authority on comparing mail addresses and
// domains: every lookup key, every equality test of an address or a
// domain in umbra goes through Fold or EqualFold.
//
// The rule: only ASCII letters are folded (A–Z to a–z). The local part
// of an address is case-sensitive by RFC 5321 §2.4; umbra matches it
// without ASCII case for its own directory and lists (as the directory's
// caseIgnoreIA5Match does), but never folds a non-ASCII character:
// Unicode case mapping merges distinct addresses — U+212A KELVIN SIGN
// lowers to "k", U+1E9E CAPITAL SHARP S to "ß", U+0130 to "i̇",
// strings.EqualFold takes U+017F LONG S for "s" — so a recipient could
// reach another's mailbox, or pass a per-recipient check as someone
// else. Domains fold ASCII too (DNS names are case-insensitive in ASCII,
// RFC 4343), and an internationalised label is compared as its A-label
// (Domain, DomainKey, AddrKey; idn.go): "bücher.example" in any case and
// "xn--bcher-kva.example" are one domain for the accepted domains,
// routing (address spaces, the topology's recipient map), the recipient
// directory (LDAP, which knows nothing of IDNA, is asked for each form:
// AddrForms), where the organisation ends, duplicate recipients (RCPT,
// a milter's or check's additions and deletions, pickup files, shadow
// and quarantine merges: RcptKey, which folds the local part only for a
// domain the organisation is authoritative for — only the destination
// host interprets a local part, RFC 5321 §2.4), Delivered-To loops, MTA-STS, DANE and DKIM
// key lookups, and rate-limit keys. IDNA's lookup mapping
// (golang.org/x/net/idna, UTS #46 non-transitional) is applied to such
// labels only — the local part never, and ASCII labels that are no
// A-label keep Fold's rule — so it cannot merge two ASCII names; a label
// IDNA refuses is an error for config and RCPT (553 5.1.3), and keys as
// Fold gives it (it matches only itself). So is a label with a non-ASCII
// character UTS #46 maps to ASCII only (U+212A KELVIN SIGN to "k", a
// full-width letter): IDNA 2008 disallows it, and "\u212Aiosk.test" must
// not be taken for "kiosk.test".
//
// IsPostmaster is the one test of the postmaster name (RCPT, the
// recipient check, delivery, the CLI's explanations), by the same rule.
//
// Fold is used for keys only: an address passed on (queued, relayed,
// delivered) is always the one the sender wrote, local part untouched.
//
// It imports no package of umbra's (only golang.org/x/net/idna), so that
// every package may use it (routing and config among them, which import
// no other package of umbra's).
//
// Canonical (canonical.go) is the one form an address is stored,
// validated, delivered and relayed in, whatever path it entered by (RCPT,
// a pickup file, a check's added recipient, a group's members, a report's
// recipients): the local part as written, the domain without its final
// dot and ASCII-folded.
//
// It also holds the one reading of HOST[:PORT] (hostport.go,
// SplitHostPort): a smart host, a queue redirect's target, and the
// delivery side that dials them take a bracketed IPv6 address with or
// without a port, and a bare one, the same way; ValidPort is the one
// port check (digits only, 1–65535) of every HOST:PORT. An address literal's
// "IPv6:" tag is stripped one way everywhere (CutIPv6Tag): in any case,
// as RFC 5234 reads the quoted string of RFC 5321's grammar.
//
// ParseLiteral (literal.go) is the one reader of an RFC 5321 §4.1.3
// address literal — a recipient's or sender's domain, the EHLO/HELO
// argument, a tagged HOST[:PORT] target: "[" IPv4 "]" (Snum, decimal)
// or "[IPv6:" IPv6 "]" (no zone; "[IPv6:1.2.3.4]" and an untagged
// "[::1]" are no literal). Its error says what is wrong in fixed words.
package mailaddr
