// Package resolver is umbra's one DNS client. Every lookup umbra makes —
// MX and address records for delivery, TXT for SPF, DKIM, DMARC, MTA-STS
// and TLS reporting, PTR for reverse DNS, A records of DNS blocklists,
// TLSA for DANE — goes through a Resolver, so that timeouts, caching and
// metrics are decided once.
//
// Invariants:
//   - Errors are *net.DNSError: IsNotFound for NXDOMAIN and for a name
//     with no record of the type asked (NODATA), IsTemporary for a
//     timeout, SERVFAIL, REFUSED or an unreachable server. Callers (and
//     libraries written for net.Resolver) tell "no such record" from
//     "could not find out" by those flags alone; a temporary error must
//     never be read as an answer.
//   - LookupTXT returns the bytes a record holds (its strings joined), as
//     net.Resolver does: a tab is a tab, never the presentation form
//     "\009" the DNS library keeps, so every TXT grammar sees its white
//     space.
//   - Answer.Secure is true only when the server that answered set the
//     AD bit, and umbra trusts that server to validate (Config.TrustAD):
//     a stub cannot validate DNSSEC itself, so DANE needs a validating
//     resolver on a trusted path (loopback).
//   - Every query is bounded by Config.Timeout per attempt; one lookup
//     (Client.Lookup: its CNAME chain, a TCP retry; LookupHost and
//     LookupIPAddr: A and AAAA asked together) by Client.Budget —
//     Timeout × Attempts × servers — whatever queries it makes; and by
//     the caller's context overall: its deadline, and its cancellation
//     (a delivery attempt cut by the stop or by its message's expiry),
//     which ends the query waiting on a server at once (ask: it closes
//     the query's connection, whenever it lands — a deadline set then
//     was overwritten by the exchange's own), with a temporary error.
//   - A reply is used only when its id and its question section (one
//     question: the name, without ASCII case, the type and the class
//     asked) are the query's; any other is no answer — the next server
//     is asked, and with none left the lookup fails for now (temporary,
//     never a denial). FuzzResponse holds the reply's handling.
//   - A reply holding a record (answer or authority section) whose RDATA
//     is shorter than its type's fields (rdataMin: an MX of a
//     preference and no exchange, a TXT of no string, a TLSA under 3
//     bytes, a name or address of RDLENGTH 0) is no answer, as one the
//     DNS library cannot parse is: the next server is asked, and with
//     none left the lookup fails for now. The library reads a record
//     until the packet ends and takes RDLENGTH 0 as a record of empty
//     fields, with no error; cutRecord stops those (FuzzCutRecord).
//     It also corrects a header's counts to the records a reply holds,
//     with no error: ask reads the reply's bytes itself (exchangeOn,
//     the library's exchange otherwise) and wholeReply walks them —
//     every section exactly the records its count says, nothing after,
//     and each RDATA of a type umbra reads filled exactly by its fields
//     (an SOA cut short between real names passes rdataMin) — a
//     mismatch being no answer, as above. A reply the library cannot
//     parse is named by wholeReply too (unreadable: the record, its type
//     and owner name, what is wrong), never in the library's words
//     (FuzzUnreadableReplyNamed).
//   - A server that sends no reply within dns.timeout is noAnswer
//     ("no answer from SRV within 2s (dns.timeout)"; every try silent:
//     the servers, the tries and dns.attempts), whichever ended the
//     wait first — the socket's read deadline or the lookup's own bound
//     (Budget, or a Cache's bound of the lookup it shares: a TCP retry
//     after a late truncated reply, left what remained of it, too) —
//     never "i/o timeout" or "context deadline exceeded"; a caller's
//     own cut (a cancel, its shorter deadline) stays "context: …", as
//     the caller names its bound, even when the read's deadline (the
//     caller's) fired before the context's own timer.
//   - CNAMEs are followed, at most 8 aliases, within a response and by
//     asking for the chain's end where the server left it (an alias
//     answered without its target's records). Answer.CNAMEs lists the
//     aliases; a denial after them names the chain's end and the chain;
//     a loop or a longer chain is a temporary error (as a validating
//     server's SERVFAIL for it would be), never a denial.
//   - An address literal ([192.0.2.1]) and IP-address text used as a
//     name (192.0.2.1, 127.1: mailaddr.IPText) are not found, and DNS
//     is never asked about them; LookupHost/LookupIPAddr still take an
//     address in its plain text form as that address (a smart host's).
//   - LookupHost/LookupIPAddr of a name with neither A nor AAAA says
//     "no A or AAAA record". An NXDOMAIN to A denies the name whatever
//     became of AAAA (a SERVFAIL, a timeout): the name does not exist
//     (TestAddressLookupDenialAnsweredBesideAFailedType); an NXDOMAIN to
//     AAAA alone beside a failed A stays the temporary error (RFC 4074
//     §4.2: servers that deny AAAA for a name whose A exists), as does
//     a NODATA beside a failed type. NoAddress turns the failed address lookups
//     of a destination's mail hosts into the one reply delivery gives
//     and route explain shows: a bounce only when every lookup was a
//     denial, naming the hosts (5.4.4), or the domain when it does not
//     exist (5.1.2); a deferral (4.4.4) otherwise.
//
// A server runs one Cache in front of one Client (cmd/umbra dns.go):
//   - An answer is kept whole, with the Secure flag of the response it
//     came from (of every response, for a CNAME chain asked in parts), for its TTL capped by CacheConfig.MaxTTL; records of a
//     validated and an unvalidated response are never mixed in one answer.
//   - A denial is kept for the RFC 2308 negative TTL (the smaller of the
//     SOA's TTL and MINIMUM), capped by CacheConfig.NegativeTTL, and for
//     NegativeTTL when it carries no SOA. Temporary errors are never kept.
//   - At most CacheConfig.Size answers, the least recently used dropped.
//   - Concurrent identical questions share one upstream lookup, bounded
//     by CacheConfig.Budget; a caller that gives up leaves it running for
//     the others and gets a temporary error; when the last one gave up
//     the lookup ends, and the next such question starts its own.
//   - Callers get their own Answer; its RRs are shared and read-only.
//   - A panic on a goroutine of the resolver's — the cache's flight (the
//     upstream lookup, or the flight's own code) and the A and AAAA
//     lookups of an address lookup — is recovered: its callers get a
//     temporary error (for an address lookup: that type's, the other
//     type still answering) that is ErrPanicked (errors.Is), so that no
//     caller blames a server for umbra's defect, nothing is kept, it is counted
//     (umbra_dns_panics_total) and logged (panicline's rule, the name
//     asked, never a response; Cache.SetLogger). A bare Client, which
//     the daemon never uses without a Cache, recovers its address
//     lookups' panics uncounted. The cache's lock is unlocked by defer
//     wherever its section calls out (the clock), so a panic under it
//     leaves the cache usable.
//   - Metrics labels are bounded: a fixed list of record types ("other"
//     for the rest), fixed outcomes and cache results. A question that
//     ended because every caller waiting for it gave up is outcome
//     "cancelled", never "error" or "timeout": no failure of the
//     server's. But one a caller left because its own deadline ran
//     out (a DNS list or HELO check's bound, shorter than the lookup's
//     budget) is "timeout": the server did not answer in the time that
//     caller had (TestQueryEndedByItsCallersDeadlineCountedTimeout).
package resolver
