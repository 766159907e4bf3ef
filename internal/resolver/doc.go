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
//   - Answer.Secure is true only when the server that answered set the
//     AD bit, and umbra trusts that server to validate (Config.TrustAD):
//     a stub cannot validate DNSSEC itself, so DANE needs a validating
//     resolver on a trusted path (loopback).
//   - Every query is bounded by Config.Timeout per attempt and by the
//     caller's context overall.
package resolver
