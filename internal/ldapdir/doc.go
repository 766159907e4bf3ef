// Package ldapdir is umbra's LDAP directory client (the ldap section of
// the configuration), built on github.com/go-ldap/ldap/v3. One Directory
// answers three questions:
//
//   - Lookup (recipients.Directory): does an address exist? An entry
//     found by recipient_filter is Known, none is Unknown, and a
//     directory that cannot answer gives CannotDecide (the session's
//     451 4.4.3, directory server failure) — never acceptance. None is
//     a search the directory answered with success (result 0) and no
//     entry, only that: any other result (noSuchObject for a base_dn it
//     does not hold, a referral) and an answer that is only a
//     continuation reference to another server (not followed) cannot
//     answer, for every search of the package (the account's too), and
//     are never cached.
//   - MailboxDatabase: which mailbox database holds a recipient (the
//     entry's database_attribute). Routing asks it
//     before the topology's recipient map; a directory that cannot answer
//     defers the recipient (451 4.4.3), it does not fall back to a
//     guess.
//   - Authenticate: SMTP AUTH for receive connectors with auth.ldap. The
//     password is verified by binding as the account's entry (search with
//     account_filter, then a simple bind as that DN; RFC 4513 §5.1.3):
//     the directory checks it with its own hash scheme, umbra never
//     reads a password attribute (its service account needs no right on
//     userPassword), and lock-out or password policies of the directory
//     apply. An empty password is refused before anything is sent (an
//     empty simple bind is an "unauthenticated bind" that succeeds
//     without checking anything, RFC 4513 §5.1.2; go-ldap's Bind refuses
//     it too). An unknown name binds to a DN that does not exist, so it
//     costs a round trip like a wrong password. The configuration
//     refuses account_filter over clear-text LDAP to a non-loopback host.
//   - Account: whether an account that authenticated is still one —
//     the name given at AUTH asked as AUTH asks it (one entry matches
//     account_filter, the name is its own, its identity unchanged) —
//     and a transport server's — no password, no cache (package smtp keeps the
//     verdicts a minute and judges open sessions by them at MAIL and
//     RCPT); a directory that cannot answer is ErrUnavailable, never
//     "not found".
//     A server_account_filter matched on the entry (a base-scope search)
//     makes it a transport server account. Results are never cached.
//
// Verification (match.go): a directory's matching rules may fold far
// more than umbra does (caseIgnoreMatch on cn or uid, Active
// Directory's mail and proxyAddresses ignore Unicode case: U+212A
// KELVIN SIGN finds k's entry, fullwidth letters find the ASCII name).
// Each search requests the attributes of the filter's equality items
// holding %s, and an entry counts only when one of those values equals
// the item's value with the address or name substituted, under
// mailaddr's ASCII-only folding, the entry's value with ASCII spaces
// trimmed and collapsed; an address's internationalised domain is
// compared as its A-label (mailaddr.AddrKey), and the search asks for
// each of its forms (mailaddr.AddrForms: as given, A-label, U-label,
// joined by "|"), since the directory knows nothing of IDNA and mail
// (IA5) holds the A-label only, so anna@bücher.example finds the entry
// of anna@xn--bcher-kva.example and the reverse, and both are one cache
// entry; a login name is never run through IDNA. A recipient address is compared as given (a
// space the directory ignores, U+0020 or U+00A0, makes another
// address), a login name with its ASCII spaces trimmed (only U+0020). An
// address found only by the directory's folding is Unknown; a login
// name found that way never binds (a bind to the dummy DN instead) but
// names the entry on the refusal, so the AUTH throttle counts it
// against the account. Two entries for one AUTH name are ErrAmbiguous
// (an ErrUnavailable: 454 4.7.0, not counted), checked before any bind.
//
// Filters: every %s is replaced by the value escaped per RFC 4515
// (ldap.EscapeFilter), so "*", "(" and ")" in an address or user name
// never widen or close a filter. Searches ask for size limit 2 and the
// timeout as time limit; several entries for one address are Known for
// RCPT, but an error for the database when they disagree.
//
// Connections: one service connection (bound as bind_dn, or anonymous)
// is shared by every search — go-ldap multiplexes requests by message id
// — and one separate connection carries the user binds, serialised,
// because a bind changes the identity of its connection. A connection
// that fails at the transport level is dropped; a search on a reused
// connection that finds it dead (the directory restarted) is retried
// once on a new one. After a failed dial, lookups fail at once for
// redialPause, so a dead directory costs one connection attempt per
// second, not one per RCPT. One Timeout bounds a whole question — a
// recipient lookup's dial, TLS, StartTLS, service bind, search and the
// reading of its answer; an AUTH's search, bind and server-account
// search — not each step (a directory taking most of the timeout for
// each of two steps has not answered in time): the question's deadline
// is the connection's setup deadline, set on the connection itself —
// go-ldap bounds requests, not the StartTLS handshake, and a directory
// that agreed to StartTLS and then said nothing held the dial and every
// lookup behind it for good — the search's time limit and the end of
// the wait for its answer; a dead reused connection is retried only
// while time is left. Callers' contexts are honoured too (the operation
// finishes in the background within the deadline and go-ldap's request
// timeout, also Timeout); one that
// timed out wraps context.DeadlineExceeded, a setup step that failed
// after the deadline included (go-ldap hands a pending StartTLS or bind
// its reader's timeout as a plain error), and says so once in words:
// "no answer within 5s (ldap.timeout)", or, when the caller's shorter
// deadline (or its end) cut the question first, "cut off by the caller
// before an answer" with its cause (context.Cause) — those words alone,
// never with the error go-ldap gave the step (its own request timeout,
// "connection timed out", may reach the wrapping before the context's
// end: a race), and a step that failed in any way once the question's
// time was up (a shared connection another question's timeout closed
// under it) counts as the timeout too (unavailable) — but a result the
// directory sent (invalid credentials of the service account, say) is
// its answer however late it is handled, never a timeout. A message from the directory
// is read up to MaxPacketBytes (8 MiB; go-asn1-ber's process-wide bound,
// 2 GiB by default, is set once by the first New): a larger one is an
// error at its header that drops the connection, not a buffer grown
// with what the directory sends. Each reply (ldap://, ldaps://, and after
// StartTLS, which umbra runs itself: startTLS) is read whole by its
// outer length and checked before go-ldap sees it (replyFramer): a malformed one, one under a message id above
// the highest umbra sent, and one under the id of a request whose final reply was read already (go-ldap drops
// both without a word, and the request the reply was meant for waits), is said so at once and ends the
// connection, never a wait for ldap.timeout; a reply's failures are worded as umbra's own (a closed
// connection, a reply too large, a malformed one: ownWords), never as
// go-ldap's "unable to read LDAP response packet". While a question waits on
// the directory (not its cache), Config.AwaitPeer marks the wait (a
// delivery attempt's: queue.AwaitingPeer).
//
// Cache: answers for addresses (found with its database, or not found)
// are kept in memory for positive_ttl / negative_ttl, at most cache_size
// of them (least recently stored dropped first), by the address folded
// in ASCII case only (cacheKey): a variant with spaces is its own entry,
// with its own verdict, never the answer of the address it looks like.
// While the directory is down, an answer within its TTL still decides;
// past it the address is CannotDecide. The cache is not persisted: the
// directory is the source of truth and a restart asks again. Time comes
// from the injected clock.
//
// Identity: AuthenticateUser returns the value of the naming attribute
// of the bound entry's DN as stored ("carol" for uid=carol,…). The
// directory's equality rules (uid, mail: case and extra spaces ignored)
// let many typed names bind as one entry; whatever keys on the user
// afterwards (rate limits, logs, the server-id binding) uses the
// identity, so the variants are one user.
//
// Connecting: the URL's host name is looked up at each dial (the
// system's resolver) and its addresses tried in order, each its share
// of the deadline (config.DialAddrs, as Go's dialer of a name); the
// unspecified
// address, refused at load as the URL's host, is never connected to when
// the name resolves to it (it reaches this machine, not the directory),
// and a name with no other is refused naming it
// (config.UnspecifiedNameError): the directory is unavailable.
//
// TLS: ldaps:// or start_tls, verified against ca_file (or the system
// roots) and the URL's host name, TLS 1.2 at least.
//
// Metrics (registry passed in): umbra_ldap_lookups_total{result},
// umbra_ldap_authentications_total{result},
// umbra_ldap_connections_total{result}, umbra_ldap_panics_total; fixed
// label values. A lookup or AUTH its caller ended (its context
// cancelled: the stop, the session gone) is result "cancelled", one
// whose goroutine panicked "panicked", never "error": neither is a
// failure of the directory's.
//
// A panic on a search's goroutine (go-ldap reading the directory's
// answer: outside input) is recovered — the directory's lock is unlocked
// by defer, none is held —: the lookup fails as the directory
// unavailable (ErrUnavailable) and as umbra's own fault
// (recipients.ErrInternal: a RCPT gets 451 4.3.0 saying it is this
// server's internal error, never "directory server failure"), the
// service connection is dropped, the panic counted
// (umbra_ldap_panics_total) and logged once a minute (SetLogger). So is
// one on an AUTH's bind goroutine (bindAs): the bind lock is unlocked by
// defer, the AUTH answered as the directory unavailable (never a
// success), the bind connection dropped, the line naming neither the DN
// nor the password.
//
// umbra.schema in this directory defines umbraMailboxDatabase and the
// auxiliary classes umbraRecipient and umbraTransportServer; the tests
// load it into a real slapd (package slapdtest).
package ldapdir
