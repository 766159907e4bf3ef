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
// RFC 4343); a U-label of an SMTPUTF8 domain is compared as given: its
// equivalence with other spellings is IDNA's (A-label conversion), which
// umbra does not apply, so a U-label never matches a different domain.
//
// IsPostmaster is the one test of the postmaster name (RCPT, the
// recipient check, delivery, the CLI's explanations), by the same rule.
//
// Fold is used for keys only: an address passed on (queued, relayed,
// delivered) is always the one the sender wrote, local part untouched.
//
// It imports nothing, so that every package may use it (routing and
// config among them, which import no other package of umbra's).
package mailaddr
