// Package milter is umbra's Sendmail milter client (protocol version 6)
// as an edge check of internal/smtp's chain (filter.go): a Check per
// configured milter, whose Open gives each SMTP session its own
// conversation, on one connection per message.
//
// Invariants and failure semantics:
//   - Events go at their time: connect and HELO when the first greeting
//     makes the session, MAIL and RCPT when umbra accepted them, and at
//     end of data DATA, each header field, end of headers, the body in
//     chunks and end of message. A transaction that ends earlier is
//     aborted on the milter (SMFIC_ABORT) by the session's Reset, and
//     its connection goes on.
//   - One connection per message: once the milter decided a message
//     (Data returned), the connection ends with quit — SMFIC_QUIT, the
//     write side shut, everything the milter still sends read and
//     dropped until its close (EOF) or quitWait, then the close — so
//     the socket is never closed with unread input or under a milter's
//     reply, which the kernel would answer with a reset. The next MAIL
//     opens a new connection and replays the session's connect and HELO
//     events; a verdict other than continue there answers that MAIL
//     and ends that connection too (the MAIL after asks on a new one).
//     Close (the session's end) quits the same way; a failed milter's
//     connection is closed at once.
//   - An inet: host name is looked up at each connect (Check.lookup: the
//     system's resolver) and its addresses tried in order, each its
//     share of connect_timeout (config.DialAddrs); an
//     unspecified one (0.0.0.0, ::), which a literal address is refused
//     at load for, is never connected to — it reaches this machine, not
//     the milter —, and a name with no other fails the connect
//     (config.UnspecifiedNameError), on_failure answering.
//   - Negotiation offers only what apply implements (add, insert,
//     change and delete header, replace body, add and delete recipient,
//     quarantine, macro lists). A modification the milter did not
//     negotiate is logged and ignored, never applied.
//   - Every read and write has a deadline (command, data or end-of-
//     message timeout) and the server's context cuts them short at
//     shutdown; the replay of a message also stops (a failure, reason
//     "cancelled") when the session's check context ends — the client
//     hung up. A packet is 1 to 1 MiB long; a replacement body may
//     not make the message larger than the connector's max_message_size
//     (SetMaxMessageSize; checked as its chunks arrive). It is held in
//     the server's in-memory body budget (Transaction.ReserveBody: the
//     chunks as they arrive, then the message made) up to the spool
//     threshold, and past it, or past the budget, goes on in a spool
//     file (Transaction.SpoolBody, replbody.go), so a session holds at
//     most the threshold of it; only on a session that cannot spool is
//     the rest past the budget read and dropped, the milter kept in
//     step, and the message answered 452 4.3.1. A spool file failure
//     defers the message (451 4.3.0, or 452 4.3.1 for want of room)
//     without failing the milter. The number of modifications per message
//     (maxModifications); recipient edits cost constant time each. Anything malformed (a plain action —
//     accept, continue, discard, reject, tempfail, skip, progress — that
//     carries data among it: each reply's length is checked against its
//     form), a timeout or a dead connection fails
//     the milter for the rest of the session (a timeout logged as what
//     did not come in time and the setting that bounds it, "no reply
//     within 10s (eom_timeout)", never as the socket's error): on_failure tempfail
//     answers 451 4.7.1 to that command and every later one, accept
//     leaves the milter out — but the greeting (connect, HELO) of a
//     transport server, or of a client at a server's address, passes
//     (greetingFailed): its shadow session carries what no milter
//     judges (heartbeats, discards, copies on receipt), and its MAIL,
//     RCPT and end of data still get 451 4.7.1. Nothing a milter sends can panic the
//     session (fuzzed: FuzzParseReply, FuzzParseOptNeg, FuzzHeaderEdits).
//     Anything the milter sent before an event goes out, or after the
//     end-of-message verdict, is a reply where none may come (unasked):
//     a failure, so replies never slip one event out of step. One that
//     arrives after the verdict was read and looked past fails at the
//     session's next event, or, the session ending first, is read at
//     QUIT: logged and counted as a failure at stage quit, with
//     no message left to apply on_failure to (the one before was
//     answered by the verdict read in step; no wait is added before
//     every 250 to catch it).
//   - A failure is never a log line of the milter's own per message
//     (any client could multiply it while the milter is broken): it is
//     noted on the session's next verdict (smtp Verdict.Noted, session
//     noted), which the front door writes on its rate-limited refusal
//     log — "milter failed", reason milter_REASON, milter_stage, the
//     message's msg_id at the end of data. Only one left at the
//     session's end, with no verdict to go with (the abort of its last
//     transaction, the quit of a milter that accepted the session), is
//     written by Close, at WARN, once per session. The milter's health
//     is told once per episode (Check.failing, Check.answered): its
//     first failure since its last verdict at WARN, "milter failing",
//     and the verdict that ends the episode at INFO with the count of
//     failures — an operator who reads warnings learns that it is down
//     for every message, from one line. A session that ended or ran out
//     of time (reason cancelled) starts no episode.
//   - The milter is shown the header section umbra stores: whether a
//     line starts a field is header.FieldStart's decision, the receive
//     side's too ("From : a@…" is a field for both).
//   - Modifications apply only when the final reply accepts the
//     message, in the order sent; a reject, tempfail, discard or reply
//     code at end of message drops them. Header edits keep the header
//     section well formed (CRLF line ends, folds that cannot start a
//     field, a blank line before the body), and run before umbra's
//     header firewall, so no milter can add a header umbra trusts.
//   - The client is umbra's own, not a library's: see the commit that
//     added it for why github.com/d--j/go-milter serves only the tests
//     (as an independent milter implementation).
package milter
