// Package console is umbra's web console: server-rendered HTML pages for
// the operator (queues, messages and their actions, shadow state, the
// dumpster, tracking search, and a map of the topology with each server's
// health as this server sees it), served by the daemon on a TCP listener
// of its own. Every page's header shows the admin API's status, with the
// state of the last configuration reload (admin.ReloadState) and, while
// a restart would refuse or change the file, the parts that would.
//
// Invariants:
//   - Off unless configured (console.listen); HTTPS only; loopback unless
//     console.allow_remote is set (package config checks it).
//   - Every page but /login and /assets/ needs a login, checked against
//     the credentials file with package smtp's parser and bcrypt check;
//     transport server accounts cannot log in; the file is read again
//     when it changes (checked at each request, by the identity of the
//     file its path resolves to, its size, mtime and ctime, and by a
//     digest of its content where those vouch for nothing:
//     filelimit.Version) and at each reload (Reread, whatever its
//     stat), and taken only when its content changed. An account removed
//     takes effect at once, the last one too: a file with no account
//     that may log in (emptied, comments only, only server accounts) is
//     taken — nobody logs in, logged at ERROR — since that is how a
//     leaked password is revoked; serve and config check refuse such a
//     file at start. Only a file that no longer parses keeps the last
//     good accounts. A session holds its account's entry at login
//     (smtp.Credentials.LoginStamp) and ends at its next request once
//     the file no longer holds it (removed, or its password changed).
//     Five failed logins for an account from an address in five minutes
//     (variants of its name — case, spaces, Unicode forms — counting
//     as one) lock that account out from that address for the rest of
//     the window;
//     other accounts behind the same address (an SSH tunnel ends on
//     loopback) still log in, but the address's answers are delayed once
//     it has failed five times (250 ms, doubling, at most 4 s), and
//     sourceLockAfter (20) failures from an address, whatever the
//     names, lock the address out for every account for the rest of the
//     window (a flood of names is not five fresh tries each; another
//     address is not affected). nameLockAfter (20) failures for one name
//     from any addresses in the window (nameKey: the name folded as the
//     credential lookup folds variants, smtp.AccountKey) lock the name
//     out from every address but a trusted one (loopback); a login from a
//     trusted address is still checked, and its success clears the
//     name's count (the operator lifts the lock-out through an SSH
//     tunnel), as any success does. The lock-outs hold under
//     concurrency: a login reserves its place for the account at the
//     address, for the address and for the name (reserve) before its
//     password is checked, failures and logins under way counting
//     together, so logins sent at once get no more than five checks per
//     account and address, twenty per address and twenty per name from
//     untrusted addresses; the others wait (bounded) and are then
//     refused. The refusal (429)
//     says what is locked, the name from the address or the address;
//     any name's failures count, so it tells nothing of the accounts.
//     A name that is no account computes no hash (smtp.Credentials.Check).
//     One address holds at most loginSlots (2) password checks at a
//     time, whatever the names, and at most loginWaiters (8) logins
//     waiting for one; a further login is refused at once (429): a burst
//     under made-up names, each with places of its own, is checked a few
//     at a time. The failure table is bounded (1024 keys, a name kept as
//     a digest, the newest maxFailuresKept failures per key); when full,
//     keys past the window go first, then the one with the fewest
//     failures, so failures under made-up names cannot push out an
//     account's lock-out.
//     Sessions live in memory
//     (a restart logs everyone out), in a Secure, HttpOnly,
//     SameSite=Strict cookie.
//   - A request whose Host header is not one of the console's names is
//     refused (421): DNS rebinding cannot reach it.
//   - Every request the console refuses is logged, and a header that
//     has not ended by the header timeout too (net/http closes it
//     without a log line), paced (headerwatch.go: the connections are
//     watched above TLS, the handshake done by the console at their
//     first read). net/http's own answers to a request it cannot read —
//     400 for a malformed request line, 431 for a header over
//     MaxHeaderBytes — reach no handler and are not logged.
//   - Every POST needs an Origin (or Referer) of the console itself, and,
//     once logged in, the session's CSRF token in the form; the login form
//     carries a token bound to a cookie (no login CSRF).
//   - The console holds no queue logic: reads and actions go through the
//     admin API's handler in-process (package admin), so they are the
//     CLI's, with its checks and errors. No button offers what the API
//     refuses: queue actions follow queue.CheckQueueAction (no suspension
//     of a shadow queue, nothing on poison, quarantine or a dumpster) and
//     the queue's status (queueActionOffered: no retry, resume or
//     redirect of a shadow queue shown shadow, none of its copies taken
//     over, as queue.Manager.CheckShadowQueueAction refuses them),
//     message actions the state the message is shown in
//     (messageActionOffered).
//   - Pages never show a message body; only the explicit export
//     (GET /messages/{id}/export, an attachment) returns one.
//   - Output is escaped by html/template; the Content-Security-Policy
//     allows only the embedded script and style sheet.
//   - Logs name the user and the action, never a password or a cookie.
package console
