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
//   - An accepted connection has TCP keep-alive (idle 15 s, every 15 s,
//     9 probes: Go's defaults) and TCP_NODELAY. The keep-alive options
//     are set once on the binding's listening socket, which its accepted
//     sockets inherit (listenTCP), not per connection.
//   - Rights are cumulative: the connector's anonymous rights, plus its
//     authenticated rights after AUTH, plus its servers' rights for a
//     transport server (a server account, a client certificate the
//     connector's organisation CA verified, or an externally secured
//     connector). A recipient outside the accepted domains needs the relay
//     right, so an anonymous session can never relay (550 5.7.1).
//   - A recipient is accepted under a right (submit for an accepted
//     domain, relay for any other), and keeps it only while the session
//     does: at DATA and at the first BDAT chunk, before any of the body
//     is taken (rightsLostBeforeBody), and again at the end of data for
//     a reload while the body came, every recipient of the transaction
//     is judged by the rights in force (rcptRightsLost, rightlost.go),
//     and where a reload took one's right since its RCPT (the right,
//     the account that had it, the ranges, the connector) nothing is
//     queued and the reply is 451 4.7.1 naming it and what took the
//     right (rt32b F1), the transaction ended: no per-recipient reply
//     exists after RCPT, a 5xx would bounce the others, and a 250 for
//     the rest would stand for recipients nobody delivers to; the
//     client's next transaction is answered recipient by recipient. A recipient of an accepted domain refused
//     for want of submit gets MAIL's refusal (mailRefusal), not "Relay
//     access denied" (rt32b F2).
//   - A reload gives an open session its connector's new permissions
//     (refreshRights) in full only when the new configuration would
//     accept the session on that connector as it stands (its binding
//     picks that connector for its address; TLS, AUTH and the trust of
//     an externally secured connector as the connector now requires —
//     a requirement it had when the session connected is no reload's,
//     and a session not yet past it is where every session there
//     begins: its MAIL meets it, and no narrowing is logged, front38
//     F1 — but only while no transaction is open: one a MAIL opened
//     without it, a reload having taken it off, has not met it,
//     rrfront38 F1); any other session keeps only the rights both grant. A reload takes
//     rights away, it never adds one the new ranges would not give
//     (SMTP-3, rr27 F1). Nor does a session keep a right a connector in
//     force would not give a new connection from its address on its
//     binding (atAddress, rt31b F1, R1): its connector's ranges narrowed
//     away from the address, or the connector removed or renamed, it
//     keeps none where no connector takes the address, and where another
//     does that one's anonymous rights — all of them, for the TLS state
//     the session has, as a new connection from the address gets them
//     there (front33) —, and its authenticated ones
//     — all that connector grants, as a new connection there that
//     authenticates so gets them (rt32b F3) — where it would
//     authenticate the account as the old one did (authsAt), or for an
//     account it authenticated itself since — relay included, in the
//     transaction open at the reload too —, and where
//     that connector has tls.required or auth.required, those rights only
//     once the session meets it, as a new connection there gets them
//     (atTLS, atAuth: STARTTLS on the connection with that connector's
//     certificate, startTLSConfig, or AUTH judged by it, authConn), its
//     MAIL answered before as a new connection's is there (requireConn:
//     530 5.7.0 Must issue a STARTTLS command first, 530 5.7.0
//     Authentication required, never the 530 5.7.1 of a right refused); it is no transport server any more (serverNow,
//     trustInForce) and its shadow session ends (421 4.7.0) — unless
//     by a server account whose authentication stands at the connector
//     now at its address (one it authenticated on the session since, or
//     one it would authenticate as the old one did: a connector renamed
//     with its settings as they were), as a new connection there would
//     be one: then it has that connector's servers' rights (as its
//     authenticated ones), is offered XSHADOW — the verb exists where
//     that connector offers it (advertiseXShadow) — and may open a
//     shadow session there, or keep the one it had while that connector
//     grants it accept-xshadow (xshadowAt; else its next shadow verb or
//     MAIL ends it, 421 4.7.0, as where its account is not held there).
//     Verb by verb it is
//     answered as a new connection from its address is
//     (TestSMTP2MovedSessionAnsweredAsNewConnectionAtAddress), but for
//     what stays its own by design: its connector's limits, timeouts
//     and banner, and the message settings bare_newlines,
//     shadow_on_receipt, reject_on_shadow_failure and
//     max_acknowledgement_delay (none grants a right; dkim_sign, which
//     vouches for the mail as the organisation's, needs the connector at
//     its address too: txDKIMSign,
//     TestSMTP2MovedSessionDKIMSignOfConnectorAtAddress); a certificate
//     (one presented at a STARTTLS after the reload too) or its
//     connector's trust, which make it no transport server there; STARTTLS
//     where the connector at its address has no certificate (454, as
//     after a reload took one away, where a new connection gets 502);
//     and the recipients of a transaction open at the reload — each
//     judged again at the end of its data (below). One rule holds an
//     authentication a reload finds (rt32c F3): it stands where the
//     connector now taking the session's address would authenticate the
//     same account with the same credentials (a connector renamed with
//     its settings as they were is one) and ends where it would not. So
//     it does not stay where no connector takes the address, or where
//     the one that does would not authenticate its account as the old
//     one did (dropAuthOffAddress): the authentication ends, and its
//     first MAIL or RCPT the rights left to it refuse is told so once
//     (one they take is taken: tellLoginLost), 530 5.7.0 with the reason in
//     words (offAddressWhy: no connector takes the address, the one that
//     does offers no AUTH, or does not have the account, or has it with
//     another password) — judged by the configuration in force alone, so
//     true however many reloads came with no command between them —,
//     then judged by the anonymous rights left to it; its messages are
//     no user's submission (origin, trace field ESMTP, back pressure,
//     shadow on receipt, delayed acknowledgement); it may AUTH again,
//     judged as below.
//   - Authentication is judged by the configuration in force when it is
//     used (authreload.go, rt28b F1): AUTH by the credentials,
//     mechanisms and allow_insecure of the connector in force a new
//     connection from the session's address would be given (authConn:
//     its own while it takes the address, another one a reload gave the
//     address to, the one it was renamed to) and the max_auth_failures
//     of its own — judged when the exchange's response arrives
//     (authSpanned): a reload between AUTH's first line and the
//     client's answer to a 334 has the reloaded credentials, server
//     flags and connector judge it, as an AUTH begun then would be;
//     where none takes the address (narrowed away or removed
//     with no other taking it), EHLO offers no AUTH and AUTH is 454 4.7.0 before any
//     password is checked — no guessing against credentials that no
//     longer serve it; the account is then judged by the connector that
//     took the AUTH (authBy); allow_insecure is judged whatever TLS the
//     connection was opened with (authNeedsTLS): one opened without a
//     TLS config cannot STARTTLS, so once a reload takes allow_insecure
//     away its EHLO offers no AUTH and its AUTH is 454 4.7.0 "connect
//     again" (replyAuthCannotTLS: a 4xx, nothing on the connection can
//     cure it), never a password in clear; an authenticated session's
//     account is compared
//     with the connector in force at each MAIL and RCPT (its stamp:
//     hash and server flag), and once removed or changed (or AUTH taken
//     from that connector) the session goes on unauthenticated, and the
//     first command its rights left refuse is refused 530 5.7.0 with
//     that reason (one they take is taken: tellLoginLost) — at
//     the end of the body too, after the body was read: the message
//     (its trace field, written again without ESMTPA; its origin; the
//     header firewall; shadow on receipt, delayed acknowledgement), and
//     the recipients a check adds to it, are judged without an
//     authentication revoked while it came, nor the servers' rights a
//     reload took meanwhile (lowerServer) (the
//     WARN line names what revoked it: a reload, or the directory; a
//     directory account is compared with the directory's own server
//     flag, the topology's side being lowerServer's); it
//     may AUTH again there (the verb layer runs that exchange: go-smtp
//     keeps its first, authAgain), and a certificate session gets no
//     servers' rights back that it gave up by logging in as a plain
//     account. A shadow
//     session ends with 421 4.7.0 at its next MAIL or shadow verb once
//     its server is no longer a transport server of the topology in
//     force (or at the connection's address, without a credential), its
//     account was revoked, or the trust it had by externally_secured is
//     gone. tls.required and auth.required are read from the connector
//     in force at each MAIL (a connection with no TLS config, which
//     cannot STARTTLS, is told to connect again: 421 and closed — for
//     tls.required, and for auth.required where AUTH is offered only
//     over TLS, cannotAuthenticate; its RCPT of any domain in the
//     transaction open at the reload too, rcptRefusal; its STARTTLS is
//     454 4.7.0 where the connector answering it has a certificate,
//     replyTLSCannot: no 5xx that only a new connection could cure),
//     and so are max_message_size and
//     max_recipients, which a reload only lowers for an open session
//     (followSizeLimit, recipientLimit: the session keeps the limits
//     its EHLO announced — go-smtp the size, recipientLimit the
//     recipients, which a shadow copy's are not held to; an EHLO after
//     the reload announces the lowered ones). One rule for the settings of a message: each transaction
//     reads them from the connector in force when its MAIL is taken and
//     keeps that snapshot to its end (txConn, reloadtxn.go, which lists
//     them and the fields that follow another rule, each with its
//     reason): bare_newlines, dkim_sign, shadow_on_receipt,
//     reject_on_shadow_failure, max_acknowledgement_delay, the limits
//     and requirements above; a reload during DATA or BDAT never
//     changes a message half-way. Its checks judge the session from its next MAIL
//     (followChecks: a milter's session state stays until the reload
//     removes that milter, one it adds does not join), its timeouts,
//     junk and error limits, minimum data rate and transaction time
//     from its next command (followLimits), its certificate the next
//     STARTTLS handshake (reloadlimits.go; a certificate the reload
//     took away ends the connection's STARTTLS from its next EHLO, 454
//     4.7.0: startTLSConfig); max_line_length stays the
//     session's own.
//   - Every refusal has a precise code and enhanced status code (replies
//     are listed at the top of session.go); internal errors never reach
//     the client: it gets 451 4.3.0 with the queue id as reference, or
//     452 4.3.1 when the disk is full, and the log gets the detail —
//     for want of room once per episode, then at most once a minute with
//     the count not logged, and a line when messages are stored again
//     and storing has held for a minute without a refusal — written by
//     the next message, the next refusal (a new episode) or the
//     shutdown, whichever comes first (storageLog):
//     a flood of retries must not write a line each to the disk that is
//     full, nor a disk whose freed pages let a message through now and
//     then start an episode per message.
//     Two successes carry no enhanced status code for a client of shadow
//     verbs 17 and below, although ENHANCEDSTATUSCODES is advertised
//     (RFC 2034 §3; rt20a F4): the XSHADOW reply ("250 <database
//     id>[ MARK=<n>]") and the entry lines of the shadow verbs' lists
//     after the first ("250 <id>"; the first has 2.0.0). Those releases'
//     clients read the id from the line's text as it stands
//     (shadowDatabaseID, discardIDs): a "2.0.0 " before it would make them
//     refuse the shadow session as malformed, or never drop a copy its
//     primary is done with. A client of version 18 says CODES at XSHADOW
//     and gets the code on both (listLine); only such a session does.
//   - DATA and BDAT bodies are byte-exact after dot-unstuffing; bare LF,
//     bare CR and NUL are refused (554 5.6.0), or with bare_newlines:
//     normalize bare CR and LF become CRLF, so "\n.\n" and "\r.\r" can
//     never end a message here or at a next hop (no smuggling); a DATA
//     body's dot starting a line a bare newline began is transparency,
//     as after CRLF (normalizeNewlines, bodySink.dotted). Nothing
//     umbra sends has a bare CR or LF: AppendDotStuffed makes them CRLF.
//   - The verb layer (verbs.go, framing.go) sits under go-smtp on every
//     connection: it terminates STARTTLS itself, answers the shadow verbs
//     XSHADOW and XQUERYDISCARD (SPEC §2a), strips the XSHADOW= MAIL
//     parameter, edits go-smtp's EHLO reply, and reads every body.
//     Every reply line leaves as printable ASCII — but for the reply to
//     a MAIL that said SMTPUTF8, taken or refused (mailUTF8), and to
//     the RCPTs of its transaction, which
//     echoes the path's graphic UTF-8 characters as written (RFC 6531
//     §3.7.4; echoUTF8), as it writes an invalid IDN label's (idnReply,
//     echoLine), and a path with a quoted local part quoted as
//     the session took it (quotePathLocal: "an na"@…) —: the client text go-smtp
//     echoes (Hello NAME, the MAIL and RCPT paths) and the layer's own
//     (a MAIL/RCPT parameter named twice, the label an invalid IDN is
//     refused for) in echoText's form (replyecho.go: \xNN for any other
//     byte, a backslash run before what reads as such an escape doubled,
//     cut past maxEcho characters and marked "..." so a reply line stays
//     within 512 octets), any other stray byte as \xNN (asciiLine).
//     Outside text a reply carries (a check's or milter's reply lines,
//     wireReply; a next hop's held refusal; a shadow copy's refusal) is
//     in the same form (replyText), each line capped alike.
//   - AUTH (auth.go, authguard.go, authpolicy.go): an unknown name
//     computes no hash: its refusal waits as long as a check of the most
//     expensive configured hash takes (Credentials.equalise), so refusals
//     take as long whether or not the name exists and made-up names cost
//     no CPU. Failures count per source (IPv6: /64) and per account name
//     across every connection (authGuard, on the injected clock): each is
//     answered after a doubling delay, a success never is; a source past
//     lockout_after gets 454 4.7.0 until its lock-out ends, except for a
//     server account's right password. An attempt reserves its place
//     before its password is checked (authGuard.reserve): attempts under
//     way count, so concurrent guesses never pass lockout_after. An account is never locked out,
//     nor a server account behind a locked-out address (that would let
//     anyone keep a transport server out of its hub): in a lock-out only
//     a name that may be a server account (Credentials.mayBeServer) has
//     its password checked, every other attempt waits equalise instead;
//     each failure waits the source's delay, its failures counting on,
//     the same for every name (authGuard.failedLockedOut). RFC 4954 codes:
//     503 5.5.1 inside a transaction, 504 5.5.4, 501 5.5.4, 501 5.5.2 for
//     bad base64. After a 334 the verb layer treats the next line as a
//     SASL response, never as a command. A connector with auth.ldap asks
//     its AccountSource (accounts.go: the LDAP directory) about names the
//     credentials file does not list; a source that cannot answer gets
//     454 4.7.0 "Temporary authentication failure" (RFC 4954 §6), not
//     counted as a failure, and lets nobody in. An account of the
//     source is judged again at MAIL and RCPT like one of the file, by
//     the source's verdict kept a minute (accountstanding.go); a source
//     that cannot answer revokes nobody. A credentials file with
//     no account on a connector offering AUTH (no auth.ldap) is refused
//     at a start; at a reload (ServerConfig.Reload, Server.Reload) it is
//     taken, logged at ERROR: nobody authenticates, as in the console.
//     A file that fails to parse fails the reload: the old accounts stay.
//   - RCPT TO:<postmaster> (RFC 5321 §4.5.1) is accepted from anyone and
//     goes to the configured postmaster; the verb layer hands go-smtp
//     a path in .invalid for it, which its parser accepts (written
//     without angle brackets too). Where there is no postmaster it is
//     refused as such (550 5.1.1, replyNoPostmaster), never with
//     go-smtp's path syntax text. Every MAIL and RCPT line is read as
//     go-smtp reads it before it gets it (pathsyntax.go): a missing or
//     misspelled FROM:/TO: is 501 5.5.4 naming what was expected and
//     found, a path go-smtp cannot read the malformed-path reply with
//     its reason, and go-smtp's refusals of a parameter value are given
//     umbra's words (replycodes.go paramValueReply). A postmaster
//     outside the authoritative and internal_relay domains (config
//     refuses one; a ServerConfig could still carry it) gets the relay
//     decision of any outside address: <postmaster> never relays mail
//     out of the organisation for a client without the relay right.
//   - A recipient at an address literal (u@[192.0.2.1]) is refused with
//     550 5.1.2 whatever the connector grants (umbra routes by domain),
//     except postmaster@[the address the client connected to], which
//     is the configured postmaster (RFC 5321 §4.5.1). So is one whose
//     domain is IP-address text (u@192.0.2.1, u@127.1, u@::1) or a
//     domain followed by a port (u@relay.test:25): 550 5.1.2
//     (DomainRefusal, RcptRefusal), each with a reply that says which of
//     these it is, never resolved as a host name. A bracket that is no
//     literal (u@[not-an-ip], u@[IPv6:1.2.3.4], u@[::1] without its
//     tag, a zone) is a syntax error: 501 5.1.3 at RCPT, 501 5.1.7 at
//     MAIL, saying what is wrong with it. One reader decides what a
//     literal is — mailaddr.ParseLiteral — for RCPT, MAIL, the EHLO/HELO
//     argument (helosyntax.go) and the HELO checks (connfilter), so
//     none takes a literal another refuses.
//   - An arriving message whose Received: headers, umbra's own included,
//     exceed the session's hop limit is refused with 554 5.4.6:
//     max_hop_count from an authenticated transport server of the
//     organisation, max_hop_count - entryHeadroom from anyone else,
//     so a message entering the organisation leaves room for its hops
//     and no later umbra hop refuses what an earlier one took (policy.go;
//     the relay check in internal/delivery counts the next hop's field).
//   - The Received field umbra writes names the client's address as an
//     RFC 5321 §4.1.3 literal: "([192.0.2.1])", "([IPv6:2001:db8::1])"
//     (mailaddr.AddrLiteral; an IPv4-mapped address in its IPv4 form),
//     and a bare IPv4 greeting as the literal it stands for (traceName).
//     Its "with" is the protocol of RFC 3848 / RFC 6531 (withProtocol):
//     SMTP after a HELO (the last greeting), else ESMTP or UTF8SMTP with
//     S for TLS and A for an authenticated client.
//   - An arriving Return-Path is removed (only final delivery adds one).
//   - Refusals (connections, relay attempts, AUTH failures, shadow
//     sessions, rejected messages), and the notices a client's mail can
//     cause per message (a check's failure or edit of umbra's results:
//     Verdict.Noted, keepOwnResults), are logged through refusalLog: a token
//     bucket per reason and source, so a flood cannot fill the disk; the
//     lines it drops are counted and reported. Each INFO line names the
//     reply the client got, code=554 enhanced_code=5.7.1 (replyAttrs;
//     none for a check's added recipient dropped, which answers nothing).
//     No credentials are logged.
//   - Every session logs connect, TLS established (version, cipher), a
//     line per message accepted (HELO, TLS, SASL user; never the body)
//     and disconnect (connlog.go); shadow sessions end at DEBUG. The
//     disconnect line reads only connStats: go-smtp may end a session from
//     another goroutine. connStats belong to the accepted connection, not
//     to go-smtp's session (made only at EHLO): a session that ends before
//     EHLO (a limit, an idle timeout, a failed handshake, a client gone) is
//     counted as opened and logged, and a limit's end counted and logged,
//     as after it.
//   - A delayed acknowledgement says how the message left (queue
//     Departure): "confirmed by the next hop" only when a next hop took
//     it, "delivered to the mailbox" for a local delivery.
//   - A server id in XSHADOW must be the authenticated account or a name in
//     the client certificate; with neither (an externally secured
//     connector) and a topology, it must be a server of the topology and
//     the connection must come from that server's address or one of its
//     source_addresses (550 5.7.1 otherwise). With a credential too, where
//     the topology lists the stated server's addresses (an IP address or
//     a host name resolved at load, or source_addresses), the connection
//     must come from one of them (shadowaddr.go: a copy of a server with
//     its configuration logs in as that server from elsewhere; 550 5.7.1,
//     counted, WARN paced per server). However it authenticated,
//     an id the topology gives a mailbox or legacy server is refused (550
//     5.7.1): only hub and edge servers keep copies. So a peer can never
//     collect another server's discard notifications.
//   - Header firewall (SR-14, package orgid): every X-Umbra- header is
//     removed from a received message; the organisation message id it
//     carried is kept (Message.OrgID) only from an authenticated
//     transport server of the organisation (session.trustedServer: a
//     server account, an organisation certificate — from one of that
//     server's addresses where the topology lists them, fromAddressOf —,
//     or an externally
//     secured connector's client whose address the topology gives a
//     transport server; without a topology, any client of that
//     connector) and only when well formed. With a topology a transport
//     server is one of role hub or edge: an address, account or
//     certificate that names only mailbox or legacy servers is not one
//     (F9), and such a server id never opens a shadow session
//     (session.transportServerID).
//     Anyone else's message gets a new id from the queue, so no outside
//     sender can make umbra take its message for another (duplicate
//     suppression, merge). Likewise the origin (orgid.OriginHeader) is
//     believed only from such a server; otherwise Message.Internal is
//     true for an authenticated user (a server account is none: from
//     an address the topology does not give it, its mail is Internal
//     only through a dkim_sign connector) or a dkim_sign connector
//     (originInside, authres.go): only such mail is DKIM-signed.
//   - umbra's own Authentication-Results (authres.go): on every
//     connector, before the edge checks, arriving ones claiming one of
//     the organisation's authserv-ids (ServerConfig.AuthservIDs.Org) are
//     removed unless the client is such a transport server, and ones
//     claiming this server's name (ServerOnly) from every client; the
//     ARC sealer seals what that header says.
//   - The XSHADOW keyword goes only to sessions that are, or by SASL can
//     still become, transport servers (advertise.go states the rule per
//     way of authenticating). It carries the verb version ("XSHADOW <n>",
//     ShadowVersion in shadowwait.go, which the README states:
//     TestSR1ReadmeStatesAdvertisedShadowVersion); the client speaks the
//     lower of both versions, so version-1 peers (a bare keyword) never see XQUERYDISCARD WAIT=,
//     peers below 3 never see XSHADOWCOPY= (503 5.5.1 if sent), and peers
//     below 4 never see XQUERYHELD (shadowheld.go; offered only with a
//     queue that can answer it, HeldQuerier), and peers below 5 never get
//     a copy on receipt by pipelined BDAT (pushone.go): only a version-5
//     peer refuses a copy whole when a command of its transaction was
//     refused (replyCopyPartial), which the one-write form needs; peers
//     below 6 never get a batch of copies (XSHADOWBATCH=, 503 5.5.1 if
//     sent; offered only with a queue that keeps a batch in one commit,
//     ShadowBatchCopier); peers below 7 never see rollback marks (XSHADOW
//     … MARK, MARK=<n> DB=<id>, XSHADOWMARK=: 501/503 if sent; offered
//     only with a queue that keeps them, MarkKeeper; queue marks.go), and
//     peers below 8 get one shadow id per message and primary instead of
//     one per transaction (queue copyid.go); peers below 10 never see
//     "XSHADOW … MARK DB=<id>" (a database id presented without a mark,
//     501 if sent; Client.PresentDatabase); peers below 12 never see
//     XQUERYDROPPED (shadowdropped.go: a primary asks which copies of its
//     messages the holder's operator removed; offered only with a queue
//     that notes them, DroppedNoter; 500 if sent to an older server), and
//     peers below 13 never see XDISCARD (shadowpush.go: a stopping primary
//     hands its owed discard notifications over, one a command, each
//     committed before its 250; offered only with a queue that applies
//     them, DiscardTaker; the copies it discarded counted as received,
//     DiscardObserver, as those a discard query fetched; 500 if sent to
//     an older server), and peers
//     below 14 never see several in one XDISCARD (up to MaxPushDiscards,
//     one commit, one reply saying how many applied and how many name no
//     copy held; a command line within maxPushLine, CRLF included, the
//     smallest max_line_length; a 501 to them at 13 is no loss: the client
//     sends several only to a server that advertised 14), and peers
//     below 15 never see XQUERYTAKENDONE (shadowtakendone.go: a primary
//     back with its database asks what the holder finished of the copies
//     it took over from that database, told only to a session that
//     presented it at XSHADOW; offered only with a queue that keeps the
//     notes, TakenDoneTeller; 500 if sent to an older server), and peers
//     below 16 never see "XQUERYTAKENDONE <max> HELD" (the held notes
//     too, HeldTeller; a query without HELD lists none; 501 if sent to
//     a server of 15, so the client says HELD only to one of 16), and
//     peers below 18 never see "XSHADOW … CODES" (501 if sent) nor an
//     enhanced status code on the XSHADOW reply or a list's entry lines:
//     a session gets them only when its client said CODES (listLine,
//     batchReply), and peers below 19 never see "XDISCARD <id> DELAYED"
//     (a pushed delay note, shadowpush.go: a server of 18 would read
//     the DELAYED word as a copy id and drop the copy; the client
//     refuses to send one, ErrNoDelayPush, and the note stays owed), and
//     peers below 20 never see "XSHADOW … NAME" (501 if sent) nor the
//     " NAME=<server-name>" a server of 20 ends its XSHADOW reply with for
//     a client that said NAME (its own server.name: the client tells a
//     server met under a second name from a copy of another's data dir,
//     package delivery receipt.go; CutStatedName reads it), and peers
//     below 23 never see XQUERYKEPT (shadowkept.go: a primary's holder
//     probe asks which of the copies its pending records name on the
//     holder it has no record of — a holder whose database file was
//     copied back from an older copy keeps its id and presents no mark,
//     and lost them; up to 100 valid ids a command, XQUERYHELD's
//     parser, refused as the other shadow verbs are: 502/503/550, 501
//     5.5.4 for bad arguments, 451 4.3.0 when the queue cannot tell;
//     offered only with a queue that can tell, KeptTeller; the client
//     asks only a server of 23, so an older one is never asked). A database id
//     presented at XSHADOW only confirms the authenticated server: one
//     the queue knows as another primary's is refused, 550 5.7.1
//     (databaseOfAnother, rt17e-F1), and the server is marked at once
//     under RefusedPeerKeyPrefix+name (PeerRefusalHealth: its relays
//     tried last, queue destinations server:refused:NAME, NAME as the
//     topology spells it), as a relay meeting the refusal marks it; a
//     session of it let in again, presenting an id of its own, clears
//     what these refusals marked (anotherDatabaseAccepted), and ends
//     the shadow view's refusal of its contacts with it (SetRefusalEnder:
//     shadow list's refused row goes with the destination mark). A
//     completed XQUERYDISCARD or XQUERYHELD of another server clears its
//     destination health marks (SetPeerHealth). Every EHLO reply on a
//     connector a transport server may open a shadow session on
//     (externally secured, verifying client certificates, or offering
//     AUTH to a server account) carries "XSHADOWDB <digest>"
//     (advertiseDigest) before and regardless of the session's
//     standing — its server claim refused here (an address the
//     topology does not give it: rt30a F1), no certificate yet —, with
//     the XSHADOW keyword or without it (a connector that grants no
//     accept-xshadow), and with shadow redundancy off organisation-wide
//     too (the verbs refused: a server restarted with the switch off
//     still delivers the messages its holders keep copies of, shadow31
//     S2); never to a user's session, nor, before the session is a
//     server's, on a connector no server could open one on (no list
//     grants accept-xshadow and servers get no right, whatever accounts
//     the credentials file holds: rt45-front item 1): the digest of this server's database id
//     (queue.DatabaseDigest), so that a shadow server whose login or
//     XSHADOW this server refuses, or that it offers no XSHADOW, still
//     sees a new database (Client.PeerDatabaseDigest) and knows the
//     primary alive at its address (delivery askShadow: its heartbeat
//     is a refusal, no failure). Never the id: an XSHADOW reply carries
//     that, to transport servers only.
//   - Shadow on receipt (SR-17, receipt.go). How this server answered
//     each XSHADOW <server id> is told to the receipt shadow when it is a
//     SessionNoter (noteShadowSession), by its final reply: a 5xx,
//     whatever the reason — also the 502 5.5.1 of a connector that
//     offers no shadow verbs at all (a reload or restart took
//     accept-xshadow away: shadowunoffered.go, logged "shadow session
//     refused" as every refusal; rt31a F1, it was noted nowhere and the
//     copies went on at every message, their discards never handed
//     over) —, is a refusal of that server's sessions when
//     the session's claim to be it is its own (an authenticated session
//     by its server account alone — a plain account speaks for no
//     server, whatever its name, frontrt35 F1 —, else its client certificate, else an
//     externally secured connector, whose trust is the address: a client
//     there speaks for the server only from an address the topology gives
//     it (claimOwn, rt39 F2) — a stranger elsewhere stating the name is
//     no refusal of the server; one in the trusted ranges at another
//     address is told as a refusal for the address alone, judged as
//     below, only when it presented the database id recorded here for
//     the server (DB=: presentsHolderID, rr39) — without it any client
//     there marked a holder not let in lately), a 250 lets them in again; a
//     server whose sessions are refused here gets no copy on receipt from
//     here (package delivery, sessionsRefusedHere; tried again once a
//     minute). A refusal whose only cause is the connection's address —
//     the session's account or certificate valid for the server — is
//     told apart (AddressRefusalNoter): another host holding the
//     credential, or the server's second interface, is not the server
//     while its own sessions are let in (package delivery judges it,
//     told of each query a session let in completes: SessionAskedNoter).
//     Receiving end: MAIL
//     XSHADOWCOPY=<database id> in a shadow session makes the message a
//     shadow copy held for the session's server (ShadowCopier), never
//     submitted for delivery, named by its organisation message id (554
//     5.6.0 without a valid one). A database id this server knows as
//     another primary's is refused at MAIL as at XSHADOW (550 5.7.1 …
//     is another server's here; nothing changed; each refusal counted,
//     WARNed for a server at the first, then at DEBUG with a WARN again
//     at most once per 10 minutes giving the refusals since, an INFO
//     with the count when that server's session is accepted again, and
//     its next refusal WARNed at once: logAnotherDatabase), and the queue
//     refuses it in the copy's commit too (rt17f-F1): the commit is the
//     authority; the check at MAIL is one seek in the queue's index of
//     database ids (it grows not with the primaries known), kept so that
//     the body of a copy the commit would refuse is never sent. After
//     the copy's commit and before its 250 (a batch's copies alike), a
//     primary that has closed the session already (its FIN is in the
//     socket below any TLS: peerShutDown, POLLRDHUP) gave up on the push
//     and counts it unconfirmed: the copies that commit stored anew are
//     withdrawn in a commit of their own and the answer, 451 4.4.0, goes
//     nowhere (pushgiveup.go, rt20a-F1). Sending end: on a connector with
//     shadow_on_receipt, a message with no other copy (not relayed in a
//     shadow session, not a client submission) gets a shadow session
//     from the ReceiptShadow before the local commit, so that the one
//     commit names the shadow server and the copy's id (for a REQUIRETLS
//     message a session whose certificate was verified:
//     VerifiedReceiptShadow); the copy is
//     pushed after the commit and the 250 follows the peer's 250. No
//     session: 451 4.4.0 (reject_on_shadow_failure, nothing committed) or
//     250 held here only; a push that fails after the commit is always a
//     250 held here only (a 451 then would make the retry a second
//     message). Such a connector never delays the 250 for confirmation:
//     shadow on receipt takes precedence over delayed acknowledgement.
//     The copy is pushed from a snapshot of the message: delivery may
//     start on the committed one at once. Each recipient's DSN
//     parameters (NOTIFY, ORCPT: RcptOptionsOf, as delivery sends them)
//     go on its RCPT by every form of the push — a takeover answers the
//     sender by them; a batch record carries none, so a copy with them
//     goes alone (CopyRecord). A copy's envelope (a copy on receipt's,
//     each of a batch's: copyOfPrimary) is its primary's, accepted and
//     validated there: it meets the session's rights, accept-xshadow,
//     back pressure, the size, the address syntax and a bound on its
//     recipients no primary's copy reaches (maxCopyRcpts: the most any
//     connector here takes from a client, at least 10000), never this
//     server's max_recipients (recipientLimit, keepBatch), nor this
//     server's recipient validation (directory, recipients file, LDAP,
//     callout) nor the edge checks of MAIL, RCPT and the body — so no
//     other server being down or slow (a callout's next hop, the
//     directory, a milter) refuses a copy, which a retry here could not
//     cure while it lasts (avail40). A relay in the shadow session
//     (XSHADOW=) is this server's to deliver, validated and checked as
//     any.
//   - Batches of copies (version 6, batch.go): MAIL XSHADOWCOPY=
//     XSHADOWBATCH=<n>, one RCPT, BDAT LAST; the payload's inner framing
//     (n length-prefixed records, each with its own envelope) has one
//     parser, parseCopyBatch, fuzzed (FuzzCopyBatch). The SMTP framing
//     stays the verb layer's: the batch is one BDAT body like any other,
//     read whole in memory (never spooled; bounded by the connector's
//     message size). Each copy's envelope goes through the session's
//     MAIL and RCPT code (openMail — inside the batch's transaction, which
//     stays busy until its reply is written —, rcptTo) and its body through messageOf,
//     as a copy sent alone; the copies taken are kept in one commit.
//     From version 24 each record states its copy's own rollback mark
//     (flag M, a MARK line), by which the holder places a discard that
//     came before the copy (queue earlystale.go; rt39 F1), the MAIL's
//     XSHADOWMARK= (the batch's highest) raising the mark it stores.
//     The answer is per copy (one bad copy does not fail the others),
//     a framing error refuses the batch whole (554 5.6.0), and a
//     storage error answers every copy of the batch with it.
//   - XQUERYDISCARD WAIT= blocks only the session's own reader (go-smtp is
//     idle between commands), at most 60 s, and ends at once when the
//     drain's last step releases the shadow sessions (CloseShadow); it
//     wakes on the queue's discard signal, taken before looking so that
//     no commit is missed.
//   - A sender that did not open a shadow session (and is not an
//     authenticated client) gets its 250 once its message has left the
//     queue confirmed, or after max_acknowledgement_delay (SR-9). If the
//     next hop refused every recipient permanently meanwhile, it gets that
//     refusal instead and no DSN is made (SMTP-7): the offer to take it is
//     registered with the queue before Submit (queue.Manager.HoldRefusal),
//     so a first attempt that ends before Submit returns cannot miss it.
//   - RCPT at an accepted domain is validated (SMTP-6, rcptcheck.go,
//     package recipients): unknown 550 5.1.1, cannot decide 451 4.3.0;
//     postmaster@ an accepted domain is always taken (the local part
//     compared in ASCII only, asciiEqualFold: a Unicode fold would take
//     "poſtmaster" for it, which delivery does not); addresses outside the
//     accepted domains are decided by relay rights alone. A recipient the
//     transaction already has (rcptKey: no trailing dot, either form of an
//     internationalised domain, the local part's ASCII case for an
//     authoritative domain only — a relayed domain's "TD@" and "td@" are
//     two mailboxes, its host alone interprets a local part) gets
//     250 and is not stored again, the first RCPT's DSN parameters kept
//     (repeatedRcpt); a shadow copy keeps its primary's list as sent.
//   - A message carrying a Delivered-To that names one of its recipients
//     is a loop, refused whole at the end of DATA/BDAT (554 5.4.6): a
//     permanent failure decidable at receipt is never turned into a DSN.
//     The field is read as RCPT reads a path (FieldAddressKeys: one
//     parse, ParseRcptPath, here and at final delivery's check), so the
//     Delivered-To final delivery wrote for a stored recipient names it,
//     whatever its quoted local part holds.
//   - Shutdown closes sessions outside a transaction at once (421), gives
//     senders waiting for confirmation their 250, and lets the
//     transactions in progress at its start finish until its context
//     ends — no other: a MAIL after it began (a session whose
//     transaction just ended, before the drain's next look at it, or
//     pipelined behind its final dot) gets 421 4.3.2 and the
//     connection closed, so the drain never waits for a transaction
//     begun during it (TestDrainRefusesMailAfterTransactionInProgress);
//     such a MAIL and the drain's look at the session claim the
//     session's last reply once (trackedConn.claimLast): one 421, one
//     "session ended" line. It is Drain then CloseShadow: the
//     daemon runs its deliveries' stop between the two, and Drain keeps
//     the shadow sessions of other transport servers that are between
//     commands (their watch sessions' long polls; no new transaction on
//     them: 421), so that the discards of the deliveries finished during
//     the drain reach their shadow servers; CloseShadow answers their
//     last long poll and closes them once the reply is written (rt27 F3).
//     When its context ends every session still open gets 421 4.3.2 and
//     its close, a session inside a body too: the drain's bound holds
//     for any number of sessions in any state (rt16c F1). A session
//     whose data's commit is under way gets it once the commit's reply
//     is written, waited for up to drainCommitWait (holdCommits); one
//     still committing after that gets the close alone, never a 421
//     that says its data was not kept while the commit may land — a
//     primary takes a push answered so as one that kept nothing, owed no
//     discard (rrreceipt42, TestSR17DrainAfterCommitBoundWritesNo421). A session
//     inside a STARTTLS handshake (which runs without the connection's
//     write lock, marked as under way) gets no 421, only the close: the
//     drain never waits for a handshake (rt16e F2).
//
// One framing authority. Two parsers reading one byte stream disagree
// somewhere, and an attacker lives there (a malformed BDAT once made the
// verb layer take a chunk that go-smtp then ran as a cleartext AUTH). So
// the verb layer alone decides where every command line and every body
// ends, and go-smtp never reads a byte the layer did not frame:
//   - A command line ends at CRLF and nowhere else: a bare LF does not end
//     a line. go-smtp is handed one complete CRLF line at a time. A line
//     with a bare CR or LF anywhere gets 500 5.5.2 and is dropped whole
//     (nothing after the bare LF runs as a command); so is a command line
//     with a NUL anywhere (500 5.5.2 Syntax error: a NUL in a command
//     line), before any command reads it (a SASL response with one is
//     malformed base64, 501 5.5.2); a line over max_line_length — over
//     authLineMax (12288 octets, RFC 4954 §4) where that is more, for an
//     AUTH command line and a SASL response alone (authLine) — ends the
//     session with 421 4.7.0; a partial line (at the idle timeout, 421 4.4.2,
//     or at the end of the stream) is dropped, never executed. After a
//     334 the next line is a SASL response, not a command; one with a
//     bare CR or LF is refused as any line is (500 5.5.2) and ends the
//     AUTH exchange (saslBareNewline), so the client's next line is a
//     command again.
//   - The layer classifies a line by go-smtp's own parser (goSMTPVerb), so
//     both always agree which command a line is. It reads each line once
//     (readCommandLine: blanks before the CRLF trimmed, a BDAT line's
//     kept; the verb and argument read once), and the metric's label
//     and the dispatch both use that reading. go-smtp's replies get the
//     RFC 5321 codes where its own differ (replycodes.go: 503 for a
//     command out of sequence, 555 for an unknown MAIL/RCPT parameter),
//     and AUTH on a connector with no mechanism is 502 5.5.1. AUTH is
//     checked in the order sequence, syntax, mechanism, TLS: before
//     STARTTLS a mechanism the connector does not offer is 504 5.5.4,
//     as after it (TLS would not make it available), and only an offered
//     one gets 538 5.7.11 (TestAuthUnknownMechanismIs504BeforeTLS). The
//     sequence is checked before the syntax: a command out of sequence
//     gets 503 5.5.1 even when the layer's own checks would refuse its
//     arguments (MAIL before a greeting, RCPT outside a transaction,
//     DATA with an argument or a malformed BDAT before RCPT, AUTH before
//     a greeting, after AUTH or inside a transaction: authSequence,
//     dataSequence); MAIL or RCPT parameters after a plain HELO are
//     555 5.5.4 (helloOnly), and the commands of service extensions —
//     STARTTLS, AUTH, BDAT, XSHADOW, XQUERYDISCARD/XQDISCARD,
//     XQUERYHELD, XQUERYKEPT, XQUERYDROPPED, XQUERYTAKENDONE, XDISCARD — 503 5.5.1 "Send EHLO
//     first: <VERB> is a service extension, not available after HELO"
//     (extensionSequence; a well-formed BDAT's chunk is read and
//     dropped, the transaction stays); STARTTLS before an accepted
//     greeting is 503 5.5.1 "Send EHLO first" (the layer's greeted, not
//     the session object, decides). A client a connection check refused
//     permanently (a 5xx at its first greeting: a blocklisted client) is
//     refused as a 554 greeting refuses it (RFC 5321 §3.1): every later
//     command but QUIT — EHLO, HELO, NOOP and RSET included — gets
//     "503 5.5.1 This connection was refused (554 5.7.1): only QUIT is
//     accepted" (refuseClient, refusedClient; a well-formed BDAT's chunk
//     is read and dropped), the checks are not asked again, and no TLS
//     is started for it. A HELO check's refusal answers that greeting
//     only: the client may greet again with another name. RSET or QUIT with an
//     argument is 501 5.5.4 and does nothing. Spaces and tabs before a
//     command line's CRLF are dropped before the verb is read
//     (fillCommand, RFC 5321 §4.1.1): "NOOP " is NOOP, "RSET x " is
//     still RSET with an argument. A verb the connector does not offer
//     at all (AUTH without mechanisms, STARTTLS without a certificate,
//     the shadow verbs where no one is granted accept-xshadow: shadowOff)
//     is 502 whatever the sequence, but for one state every command but
//     EHLO, HELO, NOOP, RSET and QUIT shares: after STARTTLS, before the
//     new EHLO, AUTH and the shadow verbs get 503 5.5.1 "Send EHLO first
//     (state discarded by STARTTLS)", as any other command does (RFC 3207
//     §4.2); a shadow verb before any greeting on a connector that
//     offers them is 503 5.5.1 "Send EHLO first". Whether the connector
//     offers the shadow verbs is read from the rights now in force
//     (refreshRights) at each EHLO, shadow verb and MAIL, so the XSHADOW
//     keyword, the verbs and their MAIL parameters agree after a reload;
//     a shadow session established before a reload that took
//     accept-xshadow away from it — at its own connector or at the one
//     that takes its address now — ends at its next verb or MAIL with
//     421 (authreload.go shadowStanding), never a 555 at a MAIL that
//     carries XSHADOW= (its primary puts it on every MAIL: a 555 would
//     bounce its mail): the primary connects again, where XSHADOW is 502
//     (rr34 F1). Every
//     MAIL starts with no shadow id or copy (forgetShadowParams): only
//     its own XSHADOW= / XSHADOWCOPY= set them (rr25 F3).
//   - EHLO/HELO argument (helosyntax.go): one Domain (underscores
//     tolerated, no final dot, A-labels only: RFC 6531 §3.7.1) or one
//     address literal ([IPv4], [IPv6:…]); anything else — a parameter
//     after it, an empty label, a U-label, an A-label IDNA refuses
//     (xn--zz, as RCPT refuses it), a literal out of range — is
//     refused with 501 5.5.4 "Invalid EHLO argument: <why>" before
//     go-smtp sees it, so the session keeps its state and no session
//     holds such a name: the Received field's "from" (traceName), the
//     HELO identity of SPF and the records show only a valid name (a
//     bare IPv4 greeting, taken for interoperability, is written
//     "from [1.2.3.4]" by traceName). No argument is 501 5.5.2. A
//     valid name is never refused for not matching the client's
//     address (the HELO checks of connfilter may, when configured).
//   - A next hop's EHLO/LHLO reply (client side, ehlokeywords.go) is
//     read by one parser, NormalizeEHLO: keywords in any case, whitespace
//     around keywords and parameters dropped (RFC 5321 §2.4). The client
//     sends EHLO itself — before STARTTLS and again after it — and gives
//     go-smtp the normalised reply, so SIZE, 8BITMIME, SMTPUTF8,
//     PIPELINING, CHUNKING, DSN, REQUIRETLS, AUTH, XSHADOW and STARTTLS
//     are all seen in "250-size 1000 " or "250-8bitmime" alike. The
//     reply to XSHADOW reads its MARK= the same way.
//   - A MAIL or RCPT go-smtp refuses to write (it returns an error
//     before any write reaches the connection: shadowConn counts them)
//     is a NotSentError (notsent.go): nothing was sent and the session
//     is intact; callers never take it for a lost connection. An rfc822
//     ORCPT that is not printable ASCII is written as utf-8 (Client.Rcpt).
//   - DATA: after go-smtp's 354 the layer reads the body up to the first
//     CRLF "." CRLF (RFC 5321 §4.1.1.4), unstuffing it as it arrives, and
//     hands go-smtp ".\r\n"; the session takes the body, or why it is
//     refused (size, line length), from takeBody (takeSpooled).
//     The end is found by searching for the marker (scanDataEnd,
//     bodyscan.go; FuzzScanDataEnd holds it to the byte-by-byte state
//     machine it replaced). A body kept past 16 KiB is read through a
//     pooled 32 KiB reader, taken only while the layer's own 4 KiB
//     reader is empty and given back as soon as it is empty again
//     outside a body, so the bytes after the end stay in the reader the
//     command framer reads and a session holds it only while it holds
//     as much body. An in-memory body's buffer is pooled (returned once
//     the session copied the body out) and sized from MAIL SIZE= up to
//     the spool threshold.
//   - max_message_size is inclusive (RFC 1870: SIZE is the largest size
//     accepted) and counts the message as the client sent it: after
//     dot-unstuffing, before any normalisation and before umbra's
//     Received field. DATA, BDAT (the sum of the chunks), MAIL SIZE= and
//     both the in-memory and the spooled path apply this one rule
//     (TestMessageSizeLimitInclusive): exactly the limit is taken, one
//     byte more is 552 5.3.4. An authenticated transport server
//     (trustedServer) may exceed max_message_size and max_header_size by
//     transportAllowance, the header fields umbra's own hops add
//     (transportsize.go; TestShadowCopyAtSizeLimit,
//     TestRelayBetweenHubsAtSizeLimit). What the session's own work adds
//     to the content it stores beyond its Received field (the empty
//     line sealHeadSection puts, the CRs normalizeNewlines puts, its
//     Authentication-Results, a check's edits) is recorded with the
//     message (noteGrown: queue.Message.Grown, stored content less the
//     bytes sent, never below zero; plus what an earlier hub of the
//     organisation said it added, orgid.GrownHeader), so that delivery
//     holds configured limits to the bytes sent too
//     (TestSMTP5SessionRecordsBytesItAdds).
//   - The bodies all sessions hold in memory are capped together
//     (transport.body_memory_limit, bodymem.go): a session reserves its
//     body buffer from the server's budget before it allocates or grows
//     it and gives it back when the buffer goes; a body the budget cannot
//     cover goes to a spool file at once (accepted as usual), or, on a
//     session that cannot spool, is read to its end keeping nothing and
//     answered 452 4.3.1 (counted refused when answered: a client gone
//     mid-body counts nothing). A body a check builds (a milter's replacement)
//     is reserved from the same budget through Transaction.ReserveBody
//     until the transaction ends (data gives it back). On a session
//     that spools, such a body past spool_threshold (or past the budget)
//     goes to a spool file (Transaction.SpoolBody; ReplaceBodySpooled
//     makes it durable and gives it to the transaction), handed to the
//     queue with the message as a received body's file is, or removed
//     (checkDataRest, data); on one that cannot spool, past the budget
//     the check answers ReplyBodyMemory (452 4.3.1).
//   - Large messages stream (spoolbody.go, spooldata.go): a body (DATA or
//     BDAT) is kept in memory up to transport.spool_threshold, then goes
//     to a spool file in writes of at most 64 KiB as it is read; the
//     session keeps the header section only (max_header_size, 552 5.3.4
//     beyond, in both paths, counted with its empty line — the one
//     sealHeadSection puts after a section sent without one too, so one
//     limit with a body and without: storedHeaderLen; it ends at the empty line or at the first
//     line that is neither a header field nor a continuation, decided on
//     its first max_header_size+1 bytes by headerSection in both paths,
//     and only it gets header work), and every check on the whole body (NUL,
//     empty, bare CR/LF, size, line length; a byte above 127, which makes
//     a message received without BODY=8BITMIME 8BITMIME — bodyStats.eight,
//     checkBody in the walk over its lines, both by queue.Has8bit —, decided once at the end of data, before the 250, on the
//     content as received: the record's EightBit is then what every later
//     step reads, delivery's MAIL and a shadow copy's alike) gives the same
//     reply as for a body in memory (FuzzUnstuffStream, FuzzBodySink, and a differential
//     test of DATA and BDAT through both paths). The stored body is the
//     edited header section followed by the file (queue.Body.WithHead),
//     submitted with SubmitBody after the file is durable (Finish). Every
//     path that does not hand the file to a commit removes it: a refusal,
//     a discard, RSET or STARTTLS during BDAT, a client that leaves, a
//     DATA go-smtp refused. The end-of-data checks get the header section
//     and read the rest through Transaction.Rest (message authentication
//     and milters do); a session with a check that is not a BodyStreamer
//     keeps its bodies in memory.
//   - Every check reads the header/body boundary umbra stores: before
//     the checks run, a header section that ended at a line that is no
//     field, or at the message's end (a header section alone), gets its
//     empty line (sealHeadSection, both paths), so a
//     check's Content has it; HeaderSectionLen is the same decision for
//     a check that splits Content itself (message authentication). No
//     reader takes a body line for a field (a From: below a line that
//     is no field: rt21b M1).
//   - BDAT is the layer's alone: "BDAT" SP 1*DIGIT [SP "LAST"] CRLF with a
//     size below 2^32, anything else is 501 5.5.4 and no byte after it is
//     chunk data. A well-formed BDAT's chunk is always read (RFC 3030),
//     kept when a transaction is open and the size allows, else dropped
//     (503 5.5.1, 552 5.3.4). A refused BDAT inside a transfer
//     (malformed too), and MAIL, RCPT, DATA or STARTTLS there, end the
//     transaction (failBDAT): the data so far and its spool file go, so
//     no later chunk joins a message the client took for failed. Kept
//     chunks are held to max_line_length as a DATA body is (lineOver; no
//     BINARYMIME is offered): a longer line makes the transfer read on
//     keeping nothing and BDAT LAST get DATA's 554 5.6.0. At LAST the layer hands go-smtp a DATA of
//     its own, drops go-smtp's 354, and the session receives the body by
//     the DATA path: one set of checks for both.
//   - STARTTLS forgets everything (RFC 3207 §4.2): until a new EHLO or
//     HELO only NOOP, RSET and QUIT are taken (503 5.5.1). STARTTLS after
//     AUTH is refused (go-smtp cannot forget an AUTH).
//   - Limits: max_junk_commands commands outside a mail transaction, and
//     commands that move no mail (NOOP, RSET, VRFY, EXPN, HELP, ETRN,
//     EHLO, HELO) inside one, since the last accepted message (transport
//     servers, such as kept-open shadow sessions, are exempt), and max_errors error replies
//     (unknown and unparseable commands too: the layer answers them, 500
//     5.5.1 / 500 5.5.2, so go-smtp's own error count never runs; and
//     the commands umbra knows but does not implement, EXPN, HELP, ETRN,
//     ATRN, BURL, TURN, SEND, SOML, SAML: one 502 5.5.1 from the layer,
//     notImplemented, RFC 5321 §4.2.4) since
//     the last accepted message; past either the session ends with
//     421 4.7.0, judged when the next command is read (the 421 takes
//     that command's place). QUIT is never counted and always gets its
//     221, at either limit too. Past soft_error_limit errors each new error costs the
//     client error_delay (on the server's clock) before its next command
//     is read, with the replies held for its pipelined commands written
//     first. A session umbra ends (any 421, a refused connection) ends
//     so that its client gets every reply: trackedConn.Close closes the
//     sending side and reads and drops what still comes, bounded in
//     bytes and time (linger: a timer ends it, and an ending connection
//     takes no read deadline from its session, whose goroutine may still
//     be in a read of it), before the close — a close with unread
//     input sends a reset, and the client's stack may drop the replies,
//     the 421 among them. Nothing is written or handed on after that:
//     once a session has ended — the layer's hangUp, go-smtp's Close
//     (its QUIT's 221, a recovered panic's 421), a reply that ends it
//     (trackedConn.hangUp: a check's or AUTH's 421), a drain's 421
//     (sayLast) — the layer frames nothing more, not even what it read
//     already with the last command: go-smtp reads the end of the
//     stream (verbConn.ended, endStream), so no command pipelined behind
//     runs (after QUIT go-smtp's session is gone: a MAIL there panicked
//     in go-smtp, rt26b F1) and no message pipelined behind a 421 is
//     taken; a body the layer held is dropped with its spool file. A
//     read that fails (a reset, a broken TLS record) is the end of the
//     stream to go-smtp too (readError; logged at DEBUG), never a WARN
//     line per connection. A panic go-smtp recovers is counted and
//     logged at most once a minute (paniclog.go); so is one in what the
//     layer runs itself (framing, the shadow verbs, STARTTLS), which the
//     layer recovers (verbConn.panicked: 421 4.0.0 and the end of the
//     session) — go-smtp's recover does not cover its reads, and such a
//     panic ended the daemon.
//     The connection's slot (max_connections, per source) is released
//     when the session ends, before the linger; lingering has its own
//     bound instead: maxLingering sessions (maxRefusing refusals) at
//     once, past it a connection closes at once. Every reply's write
//     (go-smtp's, the layer's, a discard list's) waits at most
//     idle_timeout, at most a minute: one that times out marks the
//     connection (trackedConn.writeStuck), nothing more is written, and
//     the next read ends the session (readError: reason write timeout),
//     so nothing read ahead runs; so does an idle read timeout while
//     replies written earlier still wait unread in the socket's send
//     queue (idleWithRepliesUnread, SIOCOUTQ): a client that does not
//     read, not an idle one, and nothing is written behind them. Every line must arrive within idle_timeout, and a message
//     at min_data_rate (datarate.go): a
//     DATA body from its 354, a BDAT transfer from its first chunk to
//     LAST over all chunks and the commands between them, has a deadline
//     that starts idle_timeout ahead and that each read of n bytes moves
//     n/min_data_rate on, never past idle_timeout after the read, so a
//     burst banks at most one idle_timeout (checked on the server's
//     clock as data and BDAT commands arrive, and by the read deadline;
//     421 4.4.2 Data rate too low), and a trickle cannot hold a session;
//     the whole transfer must end within max_data_time (dataTooLong, on
//     both clocks; 421 4.4.2 Message transfer took too long; transport
//     servers exempt), so a body kept just above the rate cannot either.
//     Either cut comes before the 250: nothing acknowledged is lost. A transaction's
//     command phase (MAIL to DATA or the first BDAT chunk) must end within
//     max_transaction_time (421 4.4.2; transport servers exempt), and a
//     STARTTLS handshake within idle_timeout, at most a minute.
//   - FuzzFraming holds all this: any byte stream through the whole stack
//     is framed exactly as a small reference framer frames it, and go-smtp
//     only ever gets complete lines the layer framed.
//   - A message without recipients is never queued (554 5.5.1 here, and
//     the queue refuses one).
//   - Edge checks (filter.go) run only after umbra's own checks of a
//     stage passed, and at end of data before the header firewall, so a
//     check can refuse, quarantine, discard or edit, but never let in
//     what umbra refused nor add a header umbra trusts. Their marks
//     (quarantine, discard) belong to one transaction; those of Connect
//     and Helo to the session. A recipient a check adds passes RCPT's
//     relay decision, recipient validation and max_recipients
//     (addedrcpt.go). After the last check only the
//     Authentication-Results of umbra's ids that umbra wrote remain
//     (authres.go). The end-of-data checks run under a context that ends
//     when the client hangs up (checkctx.go); a message whose checks were
//     cut off is not queued. A discarded message is tracked under the id
//     its 250 named (discardevent.go).
//   - A SessionCheck (a milter) gets per-session state when the first
//     greeting makes the session; Reset follows every transaction and
//     Close ends it — at Logout, or at once when the greeting is refused
//     (no session, so no Logout).
//
// go-smtp cannot close a connection from a session, add EHLO keywords or
// verbs, forget an AUTH, terminate TLS below its own reader, issue raw
// client commands, or say a custom EHLO name on its STARTTLS client path;
// umbra's wrappers (trackedConn, the verb layer, the client prelude and
// shadowConn in client.go) fill those gaps.
//
// The client prelude's TLS failures are ErrTLSUnavailable with their
// cause (ErrSTARTTLSNotOffered, ErrSTARTTLSRefused with the reply,
// ErrTLSHandshake with the handshake's error), so that delivery names
// what happened. The prelude sends EHLO itself on every SMTP session; a
// next hop that refuses it as unknown (500, 501, 502, 504, 550) is
// greeted with HELO on the same connection (RFC 5321 §3.2, helo) and the
// session has no extensions: no STARTTLS (a policy that requires TLS
// gets ErrSTARTTLSNotOffered quoting the EHLO refusal), no AUTH
// (Client.Auth quotes it too), no MAIL parameters (go-smtp's EHLO is
// answered with a bare 250); a refused HELO is the opening's refusal
// (StageError "reply to HELO"). An opening that ends while the server
// is in step with it — a refusing greeting, EHLO, HELO, LHLO or STARTTLS
// reply, or a policy that needs TLS meeting no STARTTLS — sends QUIT and
// reads its reply for at most two seconds before the connection closes
// (quitInStep; RFC 3207 §4.1). The EHLO sent again after STARTTLS
// follows the same rule (heloOver): refused as unknown, HELO follows
// over TLS, which stays up (a policy that requires TLS is met), and the
// session has no extensions. MAIL parameters that take no value (REQUIRETLS,
// SMTPUTF8) are refused with 501 5.5.4 when given one or twice
// (checkParams) before go-smtp, which would take any value as the flag.
// Those checks are of the keywords the server knows (knownParam: go-smtp's
// with the extensions enabled, and the shadow MAIL parameters where the
// shadow verbs are offered): a line with an unknown keyword is refused
// 555 5.5.4 for the first such keyword in the line's order, given twice
// too, and before any check of the known ones (unknownParam) — a 501
// "given more than once" would tell that umbra knows a shadow parameter
// on a connector that does not offer the shadow verbs, and go-smtp,
// which keeps the parameters in a map, would answer 555 or 501 at random
// for a line with an unknown keyword and a malformed known one.
// The layer reads a MAIL or RCPT line's parameters once (mailLine,
// mailline.go): what follows its path, as go-smtp reads it (with or
// without angle brackets; never a word inside a quoted local part), and
// every step (the declared size, the shadow parameters it takes off, a
// foreign ORCPT, the keywords given twice, the path <postmaster> found
// where go-smtp reads the path) works on that; the line goes to go-smtp
// as the client wrote it unless a step changed it.
//
// The outbound login (Client.Login, clientauth.go) is umbra's own, not
// go-smtp's Client.Auth: credentials go only to a next hop whose EHLO
// reply (the one after STARTTLS) offered AUTH with PLAIN or LOGIN, and
// only over TLS (ErrAuthNotOffered, ErrAuthWithoutTLS: nothing sent);
// "*" only answers a 334 the client cannot answer (RFC 4954 §4); any
// other reply but 235 is the host's refusal with the session still in
// step, so the caller ends it with QUIT. go-smtp's Client.Auth, still
// reachable through the embedded client, is called nowhere in umbra's
// code (cmd/umbra TestSMTP4NoGoSMTPClientAuth checks by type).
//
// The wait for the reply to the final dot (bodywatch.go) is the data
// timeout from the moment the next hop took the body's last byte: the
// count of bytes taken at the dot is the baseline, and a later
// acknowledgement moves the wait's end to data_timeout after it, never
// further; a body the next hop takes nothing more of is given up one
// command timeout after its last progress. Progress is dated by the look
// that saw the kernel's count grow (or the write that went through),
// never by TCP_INFO's last_ack_recv, which probes keep fresh through a
// stall; the looks come every eighth of the timeout watched, so that is
// the most it is late, and while the reply is awaited the looks end the
// read themselves (one is due at the wait's end; the read deadline is a
// backstop after it). A copy pushed in one trip or in a batch
// (pushone.go, batch.go) writes its group under the same watch, and
// each of its replies waits at least its own timeout from when it is
// awaited (waitAtLeast: command_timeout for MAIL and RCPT,
// data_timeout for BDAT) and data_timeout after the last progress — no
// one deadline for the whole group. A reply to the
// dot that does not come or does not parse is a FinalReplyError
// (finalreply.go: "timed out after 30s waiting for the reply to the end
// of the message", "unreadable reply to the end of the message: …"): the
// message was sent whole and the next hop may have it (RFC 1047). LMTP's
// replies to the dot, one per accepted recipient, are each awaited so:
// the first as SMTP's one reply, each next one for data_timeout from the
// reply before it (finalReplies, the one reader of replies to a final
// dot — also of the empty message that ends a DATA opened without a
// recipient, bounded there by command_timeout).
// command_timeout bounds each step of a session's opening (greeting,
// EHLO, STARTTLS, handshake, EHLO over TLS, HELO, LHLO), never the
// opening as a whole (prelude), and the reply to each of umbra's own
// commands (Client.command: RSET, the shadow verbs), as go-smtp's, and
// each reply of a pipelined envelope (MAIL, each RCPT, DATA: the read
// deadline set again before each), never the group as a whole.
//
// A next hop's replies are outside input (the MX of any domain, for a
// bounce the sender's): every reader of an outbound session's replies —
// the prelude's greeting and EHLO, go-smtp's, shadowConn.replies — reads
// through replyLimitConn (replylimit.go), which fails the session once a
// reply line passes 4 KiB or a reply 1 MiB, so a next hop that never ends
// a line or a reply costs a bounded buffer, not memory for every octet it
// sends. It also ends a reply at a line without the reply's code after a
// continuation line (ErrReplyMixedCodes): net/textproto, under the
// prelude and go-smtp, would take that line for more text and wait for
// the command timeout. It hands on only finished lines: a line not
// finished when the read fails (the step's deadline, a close) is never
// given to a reader above — bufio's ReadLine would return it as a whole
// line and drop the error, so a tarpit's "220 " at the command timeout
// was a greeting and EHLO went out, "250 o" an accepted MAIL — but
// fails that read and every later one with ErrReplyUnfinished, wrapping
// the read's error (a timeout stays os.ErrDeadlineExceeded): the step
// that waited times out ("greeting: reply line unfinished ("220 "
// received): … i/o timeout"), nothing more is sent, and Client.Alive
// offers the session for no reuse (rt30d F2,
// TestUnfinishedReplyIsATimeout). A reply that could not be read names what it
// answered: the opening's step (StageError: "greeting", "reply to
// EHLO"), or in a transaction the command (replyTo: "reply to RCPT:
// reply too long"), go-smtp's one-command path and the pipelined one
// alike — but a push whose one write carried the whole copy (MAIL, every
// RCPT, BDAT … LAST and the data: pushOneTrip, PushBatchMarked) and lost
// its connection before a reply says that instead ("no reply after the
// whole copy was written (MAIL, RCPT, BDAT LAST): EOF", wholewrite.go):
// "reply to MAIL: EOF" names a cut before any data, which holds nothing.
//
// The client pipelines (RFC 2920, pipeline.go) when the server advertises
// PIPELINING: MAIL FROM, every RCPT TO and DATA in one write, the replies
// read in order through the session's reply reader (the server sends
// nothing unasked; a byte left after the last reply closes the session
// as out of step). So does a reply that cannot be the answer: one whose
// lines carry different codes (RFC 5321 §4.2.1; its last line's 250
// would count a refusal as a delivery), a 3xx to MAIL, RCPT, BDAT or the
// end of a message, and a 250 or stray 3xx to DATA, which gives the
// recipients umbra's 451 4.4.2 "unexpected reply to DATA: …" as the
// reason they wait, not the next hop's success reply (delivery treats
// a 3xx that go-smtp's lock-step replies hand back the same way). That reader (shadowConn.replies) reads a buffer at a
// time for every reply umbra reads itself — the shadow verbs' too — and
// hands what it read ahead to go-smtp first, so no byte is lost between
// the two readers. A body goes in writes of up to 64 KiB, its parts (the
// organisation id line, the stored body, the end marker) together.
// The listener answers a pipelined group in one write: replies to MAIL
// and RCPT wait while the next command line is buffered, and are written
// before the layer reads the network again (replyhold.go). go-smtp formats the commands against
// shadowConn in capture mode, which answers them itself; anything else
// go-smtp sends meanwhile (its EHLO again after its Reset) goes to the
// wire. The common RCPT TO lines are appended by umbra itself
// (rcptline.go), byte for byte go-smtp's (FuzzRcptLine holds the two
// together); anything go-smtp would refuse or that carries a parameter
// rcptline.go does not write is still go-smtp's. The shadow-on-receipt push pipelines too and is all or nothing:
// a DATA the peer opened although it refused a recipient is abandoned by
// closing the session, so the peer keeps no partial copy. Without
// PIPELINING every command waits for the reply to the one before.
//
// go-smtp keeps session state per connection and gives no per-command
// context, so sessions use the server's context, cancelled at shutdown.
package smtp
