// Package smtp speaks SMTP for umbra: receive connectors (server) and
// outbound sessions (client), on go-smtp. It knows the protocol, not the
// queue's internals: a session hands a complete, checked message to
// Queue.Submit and answers 250 only when Submit returned (the message is
// fsync'd).
//
// Receive side, per connection:
//
//	binding listener ── pick connector ── limits ── verb layer ── go-smtp server ── session
//
// Invariants:
//   - Connection limits (total and per source IP) and remote ranges are
//     enforced by umbra's binding listener before go-smtp sees the
//     connection: 421 4.3.2 over a limit, 554 5.7.1 outside every range.
//     The connector whose remote range contains the client most
//     specifically takes the connection.
//   - Rights are cumulative: the connector's anonymous rights, plus its
//     authenticated rights after AUTH, plus its servers' rights for a
//     transport server (a server account, a client certificate the
//     connector's organisation CA verified, or an externally secured
//     connector). A recipient outside the accepted domains needs the relay
//     right, so an anonymous session can never relay (550 5.7.1).
//   - Every refusal has a precise code and enhanced status code (replies
//     are listed at the top of session.go); internal errors never reach
//     the client: it gets 451 4.3.0 with the queue id as reference, or
//     452 4.3.1 when the disk is full, and the log gets the detail.
//   - DATA is byte-exact after dot-unstuffing; bare LF and NUL are refused
//     (554 5.6.0), so "\n.\n" can never end a message (no smuggling).
//   - The verb layer (verbs.go) sits under go-smtp on every connection: it
//     terminates STARTTLS itself, answers the shadow verbs XSHADOW and
//     XQUERYDISCARD (SPEC §2a), strips the XSHADOW= MAIL parameter, edits
//     go-smtp's EHLO reply, and passes DATA and BDAT bytes through, ending
//     DATA exactly where go-smtp's own reader does.
//   - A server id in XSHADOW must be the authenticated account or a name in
//     the client certificate, so a server can never collect another
//     server's discard notifications.
//   - The XSHADOW keyword goes only to sessions that are, or by SASL can
//     still become, transport servers (advertise.go states the rule per
//     way of authenticating). It carries the verb version ("XSHADOW 2",
//     shadowwait.go); the client speaks the lower of both versions, so
//     version-1 peers (a bare keyword) never see XQUERYDISCARD WAIT=.
//   - XQUERYDISCARD WAIT= blocks only the session's own reader (go-smtp is
//     idle between commands), at most 60 s, and ends at once when the
//     server drains; it wakes on the queue's discard signal, taken before
//     looking so that no commit is missed.
//   - A sender that did not open a shadow session (and is not an
//     authenticated client) gets its 250 once its message has left the
//     queue confirmed, or after max_acknowledgement_delay (SR-9).
//   - Shutdown closes sessions outside a transaction at once (421), gives
//     senders waiting for confirmation their 250, and lets transactions
//     finish until its context ends.
//
// go-smtp cannot close a connection from a session, add EHLO keywords or
// verbs, terminate TLS below its own reader, issue raw client commands, or
// say a custom EHLO name on its STARTTLS client path; umbra's wrappers
// (trackedConn, the verb layer, the client prelude and shadowConn in
// client.go) fill those gaps.
//
// go-smtp keeps session state per connection and gives no per-command
// context, so sessions use the server's context, cancelled at shutdown.
package smtp
