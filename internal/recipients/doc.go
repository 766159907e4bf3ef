// Package recipients decides at RCPT whether an address at one of the
// organisation's accepted domains exists (SPEC SMTP-6), so that umbra
// never accepts mail it would later bounce to a possibly forged sender.
//
// A Directory answers Lookup(ctx, address) with a Verdict:
//
//   - Known: the address exists (or its domain has a catch-all);
//   - Unknown: the directory is complete for what it lists and the
//     address is not in it;
//   - CannotDecide: the directory could not answer now (a callout target
//     that is down, a cache with no entry); the error says why.
//
// Sources implementing Directory:
//
//   - List: a set of addresses and "@domain" catch-alls. It is built from
//     the topology's recipient map (entries whose match is an address, and
//     the addresses listed under a domain entry) and from the recipients
//     file (ParseFile: "user@domain" lines, "@domain" catch-all, "#"
//     comments; a bad line is an error naming file:line, so a reload with
//     a broken file keeps the running list). An entry's domain may be
//     internationalised in either form: it is checked and kept as its
//     A-label (mailaddr.Domain, AddrKey), so either form of an address
//     matches it; a label IDNA refuses is refused with IDNA's reason.
//     config.RecipientEntryProblem applies the same rules to inline and
//     topology entries (TestEntryRulesAgreeWithConfig).
//
//   - Callout: asks the next hop (for an edge, a hub) with an SMTP
//     session EHLO, MAIL FROM:<>, RCPT TO, RSET, QUIT, and remembers every
//     decided answer in a persistent Cache (a bucket of the transport
//     database): a positive answer for PositiveTTL (default 7 days), a
//     negative one for NegativeTTL (default 3 hours). While the next hop is
//     unreachable, the cached answer decides, even past its TTL (up to
//     StaleFactor TTLs, after which Prune deletes it): the edge keeps its
//     local copy of the directory. Only an
//     address with no usable cached answer gets CannotDecide. Concurrent
//     lookups of one address share one callout, and at most MaxConcurrent
//     callouts run at once, each bounded by Timeout: random recipients
//     cannot turn into a flood of sessions to the hubs. At most
//     MaxEntries answers (default 100000) are kept: a new one in a full
//     cache evicts negative answers first, then the oldest positive ones,
//     so RCPTs alone (no message sent, no message limit applies) cannot
//     grow the transport database without bound. Refused: a
//     delivery the next hop refused with 5.1.x for an address cached as
//     valid (a mailbox deleted since) replaces the positive answer with a
//     negative one, so one message is bounced, not a week of them.
//     Only a 5xx with a 5.1.x enhanced code is a negative answer (the
//     mailbox does not exist); another 5xx (552 5.2.2 mailbox full,
//     550 5.7.1 policy, none at all) is CannotDecide with a *Refusal
//     carrying the next hop's code, never cached, and not overridden by
//     a stale positive answer: the next hop did answer.
//
//   - The organisation's LDAP directory (package ldapdir, configured in
//     the ldap section): an address with an entry is Known, one without
//     Unknown, and a directory that cannot answer (with no answer cached
//     within its TTL) CannotDecide. cmd/umbra adds it to the lists,
//     after them.
//
// A Validator applies a Mode per accepted domain:
//
//   - Off: every local part is accepted (only where the configuration
//     says recipient_validation: off);
//   - ModeDirectory: the lists decide; not listed → Unknown;
//   - ModeCallout: a listed address is Known at once; everything else is
//     asked of the next hop through the cache.
//
// The receive session maps Unknown to "550 5.1.1" and CannotDecide to
// "451 4.3.0" ("451 4.4.3" when its error wraps ErrDirectoryFailure: a
// directory server that cannot answer; the next hop's own code when it
// is a *Refusal); no mode ever turns "cannot decide" into acceptance, and a
// next hop that is down never turns a cached positive answer into a
// refusal. The postmaster address (RFC 5321 §4.5.1) is the session's to
// let through before it asks. Final delivery into Maildir asks the same
// Validator, so that mail which reached it by a path without RCPT (the
// pickup directory, a queue from before validation was configured) gets
// no mailbox for an unknown local part.
//
// Configuration (package config): accepted_domains[].recipient_validation
// (directory, callout, off; by default directory for authoritative,
// callout for relay domains), and the
// recipients section (file, addresses, callout TTLs, timeout,
// max_concurrent). A directory domain without any directory source, and a
// callout for an authoritative domain without a topology (no next hop),
// are refused at start.
//
// The package imports no other package of umbra: the SMTP client of the
// callout (package delivery) and the cache (package queue) are given to it
// as interfaces by cmd/umbra.
package recipients
