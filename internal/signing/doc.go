// Package signing adds umbra's DKIM-Signature (RFC 6376; Ed25519 per RFC
// 8463 or RSA-SHA256) and ARC set (RFC 8617) to mail that leaves the
// organisation. The delivery package calls Signer.Sign on each copy it
// sends through a send connector to a next hop outside the organisation
// (delivery: leave.go, sign.go); nothing else signs.
//
// Files: key.go (PEM keys, DNS records, key generation), cache.go (the
// fields made per message), sign.go (which key, the DKIM signature),
// arc.go (the ARC set), stream.go (signing a spooled message read as a
// stream), canon.go (relaxed canonicalisation, reading bytes as the
// go-msgauth library does), header.go (header fields, tag lists, the
// parts of Authentication-Results that sealing reads). The DKIM-Signature
// and the ARC-Message-Signature are written here, over a body hash the
// caller computes in memory or as the body streams by: the library's
// body canonicaliser keeps a run of empty lines whole until content
// follows, so a large spooled body would be held in memory.
//
// Invariants:
//   - Sign never changes the message: it returns header fields to put in
//     front of it, or the message as it was with an error (then the
//     caller sends it unsigned). The stored copy is never modified.
//   - Only a header section every reader frames alike is signed: each line
//     before the empty line is a field (header.FieldStart, the receive
//     side's rule) or a continuation; else the message goes unsigned, as
//     one without the empty line does (header.go splitHeader).
//   - Signed once: the fields made for a message (its bytes and envelope
//     sender) are remembered (cache.go, bounded LRU) and sent again on a
//     retry or to a second destination; a reload builds a new Signer.
//   - DKIM signs only mail that originated inside the organisation
//     (SignOrigin's internal: queue.Message.Internal, decided by the first
//     umbra server that received it — authenticated client, dkim_sign
//     connector, pickup, DSN — and carried between umbra servers in
//     orgid.OriginHeader); other mail is at most ARC-sealed.
//   - One DKIM signature per copy: the key of the From: domain (single
//     address; the nearest parent domain with a key), else of the
//     envelope sender's domain, else none. Never a top-level domain's.
//     The author is read as the receive connectors' DMARC check reads it
//     (header.MailboxesOwn with the same own domains, Options.Own).
//   - Every configured header field is oversigned: h= names it once more
//     than the message has it, so an added instance breaks the signature.
//   - An ARC set is added only when the message carries an
//     Authentication-Results of the sealer's authserv-id. That header is
//     trusted, and no record flag is needed: every receive connector
//     (internal/smtp authres.go) and the pickup directory remove arriving
//     ones claiming any of umbra's ids unless a transport server of the
//     organisation sent them, so the header in the queue is umbra's own. cv= is none for the first set, else the
//     arc= result of that header; a structurally broken chain is sealed
//     cv=fail over the new set only; a chain already ending in cv=fail,
//     one with 50 sets, or one without an arc= result gets no set
//     (Result.NoARC says why).
//   - Memory does not grow with the message on the streaming path
//     (SignOriginStream): one relaxed body hash (relaxedBodyHasher, which
//     holds at most maxPendingBreaks bytes of line breaks) serves the
//     DKIM signature and the ARC set, and the fields are those SignOrigin
//     makes for the same bytes (TestSignOriginStreamBoundedOnEmptyLines).
//   - ARC keys are RSA (rsa-sha256 is ARC's only algorithm in practice).
//   - Keys are loaded by New from files, at start and reload: a missing,
//     unreadable, malformed, encrypted, short (< 1024-bit RSA),
//     world-readable or two-block key, or a file that is not regular (a
//     FIFO would block: it is never opened blocking), is an error naming
//     the file then, never at delivery. A Signer is immutable and safe for concurrent use.
//
// Tests verify umbra's output with the library's verifier, with Debian's
// opendkim-testmsg (libopendkim, keys served by a DNS server in a private
// network namespace) and with dkimpy (DKIM and ARC).
package signing
