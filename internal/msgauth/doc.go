// Package msgauth is umbra's inbound message authentication: SPF
// (RFC 7208) of the MAIL FROM and HELO identities, DKIM verification
// (RFC 6376), DMARC (RFC 7489) and ARC chain validation (RFC 8617), as
// one end-of-data edge check (smtp.DataCheck) per receive connector.
//
// Invariants:
//   - Every DNS lookup goes through the resolver.Resolver given to New
//     (SPF, DKIM keys, DMARC records, ARC keys), bounded per message by
//     the connector's timeout.
//   - A temperror means DNS failed — counted so, but for a method the
//     session's end cut short (its context cancelled: the client gone,
//     umbra stopping; the method's result came after it), whose
//     temperror is counted "cancelled" in umbra_msgauth_results_total
//     (Metrics.observe); a method of the same message that ended before
//     keeps its temperror. One a lookup of which the resolver answered
//     with its recovered panic (resolver.ErrPanicked, logged at ERROR
//     there) is umbra's defect: "panicked" (panicWatch), answered as
//     before (451). A name the checks build that cannot
//     be a domain name (over 253 characters, a label over 63) is not
//     asked: it is "not found" (nameGuard, dnsname.go). An SPF macro
//     expansion over 253 characters is first shortened from the left,
//     label by label (RFC 7208 §7.3, spfNames), as the SPF library does
//     not do it.
//   - Every field the checks read (From:, DKIM-Signature, the ARC sets,
//     Authentication-Results) is one of the header section umbra stores,
//     as the receive side frames it (smtp.HeaderSectionLen, header.go
//     splitHeader): it ends at the empty line the session puts where the
//     client's header section ended at a line that is no field, so a
//     From: below such a line is body and the message has no From: (rt21b
//     M1); the check never reads past that line, never drops one.
//   - The author domain is read from a From: field that is an RFC 5322
//     mailbox-list (header.Mailboxes, the reading DKIM signing shares);
//     any other From: (an '@' in a display name outside quotes or angle
//     brackets, a group, two addresses without a comma, text after an
//     address) names no author domain: dmarc=permerror, refused where
//     the policy is followed. No lenient guess picks an author. Nor does
//     a domain whose last label does not start with a letter or is one
//     character (a@127.0.0.1, a@0x7f.1: IP-address text; a@x.y: no
//     top-level domain is one character; topLabelIsName; rt21b L5,
//     bidi23): never asked for a DMARC record, never header.from. An
//     SPF identity (MAIL FROM, HELO) with such a domain is spf=none,
//     never asked.
//   - A domain a check names (the From: domain, an SPF identity's, a DKIM
//     d=) is compared and looked up as mailaddr.Name gives it, the one
//     mapping of the tree (asciiDomain): lower case, A-labels, no final
//     dot; an underscore label is a domain; a label IDNA 2008 refuses,
//     or a character that only stands for ASCII (KELVIN SIGN), makes no
//     domain, never the domain it imitates.
//   - The message the check passes on has exactly one
//     Authentication-Results field naming umbra's authserv-id: the one
//     umbra wrote, at the top. Arriving ones claiming that id are
//     removed first (RFC 8601 §5); other servers' stay, and so do
//     ARC-Authentication-Results fields (they are sealed by others).
//     Apart from that, the header and body are passed on byte for byte.
//   - A temperror never passes silently where the connector's action
//     would quarantine or refuse: it answers 451 4.7.x. A refusal wins
//     over a temporary failure, which wins over quarantine.
//   - A DMARC failure is acted on unless a trusted ARC sealer
//     (trusted_arc_sealers) vouches for it: valid chain, latest seal
//     theirs, their ARC-Authentication-Results saying dmarc=pass with
//     header.from the message's own From: domain.
//     Nothing else lifts it.
//   - Sessions of transport servers of the organisation are not
//     checked and not edited (an edge checked them); authenticated
//     submissions are not checked, but forged results are removed.
//   - The work of one message is bounded: a signature naming more than
//     maxSignedFields fields in h= is not computed (permerror), header
//     fields are picked through a per-name index (linear), the body is
//     read through the context, and the context (the connector's
//     timeout, the session's end) is checked between and inside steps.
//     A cut-off check says so, never "DNS failure"; a body cut off ends
//     the library's input normally (ctxReader), so its parallel
//     verifiers finish instead of waiting forever.
//   - Memory does not grow with the body: DKIM verification (the
//     library's) is given a body whose runs of empty lines are at most
//     maxEmptyRun bytes (the library holds such a run per signature
//     until content follows); a longer run makes the signatures
//     permerror, not verified (emptyRunReader). ARC's body hash is
//     umbra's, streamed in bounded memory (bodyHasher).
//   - The Authentication-Results umbra wrote is reported in
//     smtp.Transaction.AuthResults; the session removes, after the last
//     check, every field claiming umbra's ids that umbra did not write.
//   - Parsers (header split, tag lists, key records, ARC sets, the
//     authserv-id) never panic on any input (fuzzed) and never read past
//     the message.
//   - A check's reason (which may quote the message, or a DNS record)
//     reaches a reply or an Authentication-Results comment only through
//     commentText: no "=", ";", quote, parenthesis or backslash of it, so
//     no parser searching the field reads it as a result ("=", ";" and
//     quotes show as "?"; a parenthesis, backslash, control or non-ASCII
//     byte as a space: reasonSpace, the one mapping). Text a check
//     could not parse is quoted in the reason by quoteShort (64 bytes at
//     most, mapped by reasonSpace too). umbra's own words in a comment (p=…, i=N, the override) are
//     result.note, written as they are: never text of the message (the
//     override names the configured sealer's A-label, not the seal's
//     d=) and, past p=, no "=". A domain property the message wrote as
//     a U-label is written as its A-label (propDomain).
//
// ARC verification is written here (go-msgauth has none) on DKIM's
// canonicalizations, tag lists and key records (canon.go), checked
// against go-msgauth's DKIM signer and dkimpy's ARC sealer in tests.
package msgauth
