// Package header reads and edits the header section of a stored message
// (RFC 5322 §2.2): what the hop limit counts (Received:), what final
// delivery replaces (Return-Path:, Delivered-To:) and what loop detection
// looks for, and the Authentication-Results fields claiming umbra's
// authserv-id that the front door removes (authres.go; RFC 8601 parsing
// of the authserv-id, shared with internal/msgauth), and the mailboxes of
// a From: field as DMARC and DKIM signing both read them (mailbox.go:
// Mailboxes, a strict RFC 5322 mailbox-list reading, so that both find
// the same author domain — a@example.org. is example.org — and a field
// a mail reader could show with another author than the one a lenient
// parser would pick — including a display name that shows an address of
// another domain, or a comment that shows an address, once encoded words
// are decoded as a reader decodes them, adjacent ones joined, and
// compatibility forms folded (NFKC: U+FF20 is '@'; the ideographic full
// stops U+3002, U+FF0E, U+FF61 are dots, UTS 46), white space and
// invisible marks around '@' and a domain's dots set aside (RFC 5322
// §3.4.1 CFWS; the domain then needs a dot and the local part a letter
// or digit; a dot that ends a word before white space and a word with
// an apostrophe is prose, "Bob @ St. Mary's"), a shown domain ended at
// the first character no domain name holds (an apostrophe:
// "bank.test's" is bank.test) and cut back to its last label that
// starts with a letter and has a second character (RFC 3696 §2:
// "bank.test.1" is bank.test; "9.99", "v2.0" and "N.Y.C" are none, as
// is any domain left with one label by the cut; a chain of
// abbreviations before a possessive is prose, "Mt. St. Helen's"; one
// label is a domain only if it is an ICANN top-level domain, "n@ai",
// not "Team@Acme"), raw ISO-2022-JP in a
// quoted string or comment (obsolete syntax, RFC 5322 §4; RFC 1468's
// escape sequences, whole JIS X 0208 characters, a quote or parenthesis
// byte of one the character's: read alike by every reader that decodes
// it; a run holding such a byte and a '<', '>' or '@' byte refused: a
// reader that does not decode it ends the quoted string or comment
// there and may read an address from the bytes) read as decoded and as its bytes (iso2022.go: JIS X 0208 "!w"
// is '＠'), read
// again with each quoted string a word of its own and comments dropped
// ('"ceo@bank.test"x.evil.test' also shows ceo@bank.test), one with an
// explicit bidi embedding, override or isolate (U+202A–U+202E,
// U+2066–U+2069: shown in another order than written) — a name with a
// right-to-left character (a Hebrew or Arabic letter, the marks U+200F
// and U+061C, which reorder Latin words in a right-to-left paragraph)
// is read in its visual orders too (bidi.go, UAX #9's implicit levels
// and bracket pairs, left-to-right, right-to-left and first-strong
// paragraphs, boundary neutrals kept and removed as UAX #9 X9 does) —,
// raw bytes
// that are not UTF-8 also read in the
// legacy charsets a reader may pick — or a quoted local part that holds
// an address — is no author at all; the author's own domain (or its
// organisational domain, RFC 7489 §3.2) shown, in
// whatever quotes or brackets, typographic ones included, is the one
// author). The decoding is the package's own, not
// mime.WordDecoder's: that one keeps a word with a stray '=' or base64
// without padding as written, and a reader that decodes it anyway would
// show an address Mailboxes did not see (TestMailboxes). Each word is
// decoded in its charset (charset.go: UTF-16, UTF-32 and UTF-7 by hand,
// the rest through golang.org/x/text's WHATWG and IANA indexes, not byte
// for byte: '@' is no 0x40 byte in UTF-16, and a 0x40 byte inside a
// Big5 or ISO-2022-JP character is no '@'); a word in a charset not
// decoded there may show anything and is refused as showing an address.
// It imports nothing of umbra's.
//
// Invariants:
//   - Only the header section is read or changed: it ends at the first
//     empty line, at the first line that is neither a field (FieldStart)
//     nor a continuation of one — where the receive side ends it and the
//     body starts (package smtp) — or at the end of the message. The
//     body is never looked at and comes out of Remove byte for byte,
//     whatever the caller hands in: a field-looking body line is never
//     counted, read or removed (rt21b M1).
//   - A field is a line FieldStart takes for one plus its continuation
//     lines (starting with space or tab). Names compare
//     case-insensitively, and white space before the colon (obsolete
//     syntax, RFC 5322 §4.5) is ignored, so "Return-Path :" cannot slip
//     past a removal that "Return-Path:" would not.
//   - Lines end in CRLF or, leniently, in a bare LF; neither is changed.
//   - Every function is total: any byte string is a valid input.
//   - Count and Remove walk the fields without building a list
//     (walk.go: fieldWalk finds exactly the fields fields lists,
//     FuzzFieldWalk), so a header section of max_header_size costs no
//     allocation per field. The receive side hands these functions the
//     header section alone (it ends at the first line that is not a
//     field, package smtp), so a body line is never taken for a field.
package header
