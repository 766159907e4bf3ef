// Package connfilter is a receive connector's connection filtering, as
// checks of the edge chain (internal/smtp filter.go): DNS blocklists and
// allowlists at connect, and HELO checks (syntax, forward-confirmed
// reverse DNS of the client, HELO name must resolve).
//
// Invariants:
//   - Every lookup goes through umbra's one resolver (package resolver),
//     so list answers are cached by their TTL and denials by their
//     negative TTL; a second connection from the same client asks no DNS.
//   - A DNS list's answer counts only when it is an A record in
//     127.0.0.0/8 outside 127.255.255.0/24. An answer outside 127/8 (a
//     hijacked or expired zone answering for everything) or one of the
//     127.255.255.x error codes (queries refused: open resolver, rate
//     limit) makes that list's answer ignored and logged as
//     misconfigured, as Spamhaus advises: such a list must never block.
//   - A list that cannot be asked (timeout, SERVFAIL) counts as not
//     listing; blocklists fail open. It is logged per zone by episode
//     (Limiter.Failed, Answered: one per server, so a reload that
//     keeps the list keeps them; one that removes it forgets them,
//     Limiter.KeepLists, and the list added back is a new one — a
//     lookup of the removed list that ends after the reload, on a
//     connection accepted before it, brings none of them back): a WARN
//     at the first failure, at most one a minute after with
//     suppressed=N, and "DNS list answers again" once it answered a
//     minute past its last failure. A lookup cut short by umbra
//     stopping (the server's context) is no failure of the list's: no
//     WARN, no episode (TestDNSBLStopIsNoUnansweredList), counted
//     result="cancelled", never "error"
//     (TestDNSBLStopCountedCancelledNotError) — judged as each lookup
//     ends: a list that failed before the stop, another still waiting,
//     failed on its own (TestDNSBLStopCancelsOnlyTheLookupsItCut). HELO checks
//     whose DNS cannot be asked answer 450 when their action would
//     refuse, never 5xx —
//     nothing to a client at an address the topology gives to a server
//     (ConnInfo.ServerAddress) at its greeting, which must reach its
//     AUTH and its shadow session while the resolver is down. That pass
//     is for AUTH alone: the session (heloSession) remembers it, and
//     unless the client is a transport server by its MAIL the checks
//     are asked again at each MAIL and answer as at a greeting, whatever
//     the topology says of the address by then.
//   - umbra_helo_checks_total counts each check's result once a
//     session: the checks asked again at MAIL count only a result the
//     session had not counted. A check whose DNS umbra's stop cut short
//     counts "cancelled", and one the resolver's recovered panic
//     answered "panicked", never "error" (no failure of DNS's); both
//     answer as DNS that could not be asked.
//   - The score is the sum of the weights of the block lists that list
//     the client less those of the allow lists that do; the action
//     applies at or above the threshold. A listing on an exempt list, or
//     a transport server of the organisation, is never refused here.
//   - Replies: reject 554 5.7.1 naming the lists at connect; tempfail
//     421 4.7.1 at connect (the connection closes) and 450 at HELO; log
//     only refuses nothing, and says so through the session's
//     rate-limited refusal log (smtp.Verdict.Noted: its reason, the
//     codes of the reply it would have given), never on a line of its
//     own per connection or greeting. A HELO check's logged result
//     tells cancelled and panicked apart from DNS's error. HELO syntax 501 5.5.4 (the front door's code
//     for a bad greeting argument), reverse DNS 550 5.7.25 (RFC 7372),
//     HELO name not found 550 5.7.1; a refusal names the command the
//     client sent, "<name>: EHLO command rejected" (ConnInfo.Greeting).
//   - A panic of a list's lookup, on the goroutine Connect starts per
//     list (no lock held there), is recovered: that list counts as not
//     listing (fail open, as above), the panic is counted
//     (umbra_dnsbl_panics_total, and result="panicked" in
//     umbra_dnsbl_lookups_total) and logged at ERROR once a minute
//     (panicline). It is umbra's defect, not the list's failure: no
//     WARN "not answered", no episode (TestDNSBLPanicBlamesNoList). So
//     is a panic the resolver recovered (resolver.ErrPanicked, logged
//     there): result="panicked", no WARN, no episode
//     (TestDNSBLResolverPanicBlamesNoList).
//   - Metric labels are bounded: the zones and checks of the
//     configuration, fixed result names. A reload that removes a list
//     deletes its series of umbra_dnsbl_lookups_total (Metrics.KeepLists),
//     and a late lookup of it brings none back; one that removes a
//     connector (or its lists) deletes that connector's series of
//     umbra_dnsbl_verdicts_total, and a late verdict brings none back.
package connfilter
