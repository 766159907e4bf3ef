// Package tlspolicy decides the TLS policy of outbound mail to a
// destination domain's MX hosts from the domain's own publications, and
// counts the outcomes for TLS reporting.
//
// Order (Engine.Host), per MX host: DANE (RFC 7672) when the domain's MX
// RRset and the host's _PORT._tcp TLSA RRset were DNSSEC-validated
// (resolver.Answer.Secure: the AD bit of a validating resolver umbra
// trusts; PORT the connection's; a domain without MX is its own host,
// under DANE when the denial of its MX records and its address records
// were validated: MXSecurity, RFC 7672 §2.2.2; for an alias MX host, at the
// CNAME-expanded name first when the whole chain is secure, then at the
// MX name, and at the MX name only when a step is insecure and the MX
// name's own CNAME was validated; never for a host whose address records
// were not validated, whose TLSA records are not even looked up:
// tlsaBases, RFC 7672 §2.2.2); then MTA-STS (RFC 8461); else nil, and the send connector's
// tls setting applies. Delivery (internal/delivery, tlsout.go) applies
// the decision; REQUIRETLS (RFC 8689) accepts only a decision that
// verifies (Decision.Verified) or a verify connector.
//
// Files: dane.go (TLSA matching: DANE-EE, DANE-TA with selectors and
// matching types), publish.go (this server's own policy, served),
// mtasts.go (the policy and TXT record parsers, the
// cached form), engine.go (lookups, the HTTPS fetch, the cache,
// refresh, decisions, ResultType and Describe: the RFC 8460 result type
// and the reply text of a failed session, per cause), rpt.go (TLS-RPT
// counters, the RFC 8460 report and its mail; Pending and SendDay for
// umbra tls report), explain.go (route explain).
//
// Invariants and failure semantics:
//   - DANE applies only to secure answers. A secure denial of TLSA, or an
//     insecure answer, means no DANE for the host; a TLSA lookup that
//     fails (SERVFAIL: bogus or unreachable) for a secure MX is an error
//     and the host is deferred, never used without its records.
//   - Usable TLSA records make TLS mandatory and the certificate must
//     match one; secure records none of which is usable make TLS
//     mandatory and unauthenticated. Usable means DANE-TA/EE, a known
//     selector and matching type, and well formed (a digest of its
//     type's length, Full data that parses as DER of its selector):
//     a malformed record matches nothing and is not counted. Under
//     DANE-TA the chain is checked first, then the names: a certificate
//     that chains to the anchor but carries none of the reference
//     identifiers (RFC 7672 §3.2.2: TLSA base domain, MX host, next-hop
//     domain) is a DANENameError, described with every name tried and
//     the names the certificate is valid for — never x509's error for
//     the last name alone beside another name in the text.
//   - An MTA-STS policy is cached (memory and the transport database's
//     tlspolicy bucket, through Store) before it is used; it is used
//     until Fetched+MaxAge, while the TXT id is unchanged or DNS cannot
//     answer. A stored policy that is damaged (a mode, max_age or mx a
//     policy file could not give) is not read: the domain is fetched
//     again as if none were cached. A fetch failure (including a policy file that does not
//     parse: RFC 8461 §3.2) keeps a valid cached policy; with none, the
//     domain has no policy (RFC 8461 §5). The failure is kept with its
//     result type (FetchFailure.Result: sts-webpki-invalid,
//     sts-policy-invalid, sts-policy-fetch-error), never reported by the
//     fetch: delivery counts it per session it left without a policy or
//     blocked (RFC 8460 §4.3), so route explain changes no report.
//     A failed fetch pauses fetching for its TXT id only (fetchBackoff);
//     a new id is fetched at once (RFC 8461 §3.3). The last failure is
//     kept until a fetch succeeds or the record is withdrawn
//     (LastFetchFailure: route explain,
//     REQUIRETLS deferral). max_age above 31557600 is capped to it.
//     Refresh fetches again every policy past half its max_age.
//   - The policy host is fetched over HTTPS with its certificate verified
//     for mta-sts.<domain> (RootCAs or the system's; SetRoots replaces
//     them for later fetches and sessions), no redirects, the
//     body capped at 64 KiB and the media type text/plain; its addresses
//     come from umbra's resolver, and an unspecified one (0.0.0.0, ::)
//     is never connected to (it reaches this machine): a name with no
//     other fails the fetch (config.UnspecifiedNameError).
//   - TLS-RPT counts are memory until Flush adds them to the day's
//     record (tlsrpt bucket) in one commit per domain; SendDue queues
//     the report of each past day (keyed, so a report is queued once even
//     if a crash comes before its record is deleted) and then deletes the
//     record. Failure keys are bounded per domain, day and policy type.
//     Each policy type's record keeps the policy-string of the last
//     session checked under it (Decision.Policy, handed over through
//     PolicyRecorder; at most 64 strings), which the report's policy
//     object carries (RFC 8460 §4.4); its mx-host is that sts policy's
//     mx patterns (none for tlsa, no-policy-found), the hosts sessions
//     went to only in the failure details (receiving-mx-hostname).
//   - No transaction is held across DNS or HTTPS: the store is written
//     after the fetch returns.
//   - The policy this server publishes (publish.go) is served for
//     mta-sts.<domain> of each domain it is given (the caller gives the
//     authoritative and internal_relay ones); Live holds its
//     domains and certificate, replaced whole by a reload (Set), and
//     Uncovered names the policy hosts a certificate does not name (the
//     caller warns: senders' fetches for them fail).
package tlspolicy
