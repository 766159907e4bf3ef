// Package delivery makes delivery attempts for the queue manager. It
// implements queue.Deliverer and never touches the transport database: it
// reports one result per recipient and the queue commits them.
//
// Who decides what: delivery speaks SMTP, LMTP and writes mailboxes; it
// decides neither when nor how many. The scheduler (package queue)
// starts every job — a message's group, a heartbeat (Heartbeat), a
// watch session (Watch) — in its destination's window; shadow
// redundancy's rules (package shadow) decide which heartbeat is due.
// What a session learns comes back as results, as return values
// (Heartbeat) or through the interfaces given at construction
// (Config.Shadows: the shadow Recorder; Config.Dedup: the queue's
// FinalClaims), never through a part wired in after it was built.
//
// Files: delivery.go (the Deliverer, its configuration and reload),
// plan.go (recipients grouped by destination, for Deliver and for the
// scheduler), remote.go (MX and smart hosts: lookup, connect, TLS, AUTH),
// org.go (routes inside the organisation), local.go (Maildir, LMTP),
// transaction.go (MAIL, RCPT, DATA and the mapping of replies to
// results), pool.go (reused connections), shadowsession.go (XSHADOW,
// discard queries, heartbeats), tlsout.go (DANE, MTA-STS, REQUIRETLS),
// watch.go, verify.go, loop.go, source.go,
// health.go (ordering hosts by the scheduler's health record),
// stream.go (spooled bodies), eightbit.go (what content a next hop may
// be sent), panics.go (recovered panics of outbound work),
// mailboxturn.go (one LMTP transaction at a time per recipient mailbox:
// the only wait delivery does itself — a recipient whose mailbox is in
// another of this server's LMTP transactions, bounded by that
// transaction; it holds no mailbox's turn while it waits, and lends its
// message's slot of the active set: queue.WaitingTurn). A transaction
// tells the queue when it is in its envelope and in the message data
// (queue.InEnvelope, queue.InMessageData), and a session's opening the
// step it waits on (queue.InOpening: the greeting, EHLO, STARTTLS): a
// delay notice made while its next hop stops answering there names the
// host and the phase.
//
// Addresses (plan.go canonical): Plan, RouteQueues and Deliver see the
// sender and recipients in the one canonical form RCPT stores
// (mailaddr.Canonical: no final dot, the domain's ASCII case folded), so
// a recipient queued otherwise (by an earlier release's pickup) is
// grouped, validated, written into its Maildir and sent in RCPT TO as
// RCPT would have stored it; the Maildir writer refuses any other form.
// A next hop's extensions are read case-insensitively (smtp.NormalizeEHLO).
//
// 8-bit and internationalised content (eightbit.go, RFC 6152, RFC 6531
// §3.2): a message is never converted and never sent with a parameter
// dropped. A next hop that offers neither 8BITMIME nor SMTPUTF8 gets no
// message with a byte above 127 (550 5.6.3); one without SMTPUTF8 no
// SMTPUTF8 message with non-ASCII header fields (550 5.6.7, every
// recipient), no message from a non-ASCII sender (553 5.6.7, every
// recipient) and no non-ASCII recipient (553 5.6.7, that recipient
// only: the ASCII recipients go in a transaction without SMTPUTF8; a
// message needs the extension only for what it holds that is not
// ASCII). The texts are queue's (utf8reply.go), one wherever they are
// stated. Every client path checks it in transaction (MX,
// smart host, LMTP, relays inside the organisation, pooled sessions); a
// shadow copy on receipt to a peer without SMTPUTF8 is refused
// (smtp.Client.PushCopy). For MX and smart hosts the decision is per
// host: a host lacking the extension is passed over (its session pooled)
// and the recipients fail only when no host that answered takes the
// message and none failed for now or was left by the limits below. A
// host without SMTPUTF8 that takes some recipients (the ASCII ones) but
// not the others gets those in a transaction without SMTPUTF8, and the
// internationalised ones go on to the next hosts of the destination, of
// the same preference or the next (a pooled session to such a host is
// not used for the message): they fail at such a host only when no host
// that answered offers SMTPUTF8 and none failed for now or was left by
// the limits below (TestUTF8RecipientTriesTheNextMXHost). The
// queue's DSN of such a failure is 7-bit (queue/dsn7bit.go), so the same
// kind of hop carries it (TestDSNOfEightBitFailureReachesSenderOverSameHop).
// A host that refuses the session for good (a 5xx greeting, RFC 5321
// §3.1, or a 5xx to EHLO) is passed over by the same rule: its own
// reply is kept, the next host tried, and the recipients fail with that
// reply (the DSN quotes it as type smtp, the host its Remote-MTA) only
// when no host took the session and none failed for now or was left by
// the limits below — the last host of the destination as any other. A
// 4xx there, a TLS failure, a refused login and any refusal by a server
// of the organisation (a send_xshadow connector's smart host, a relay
// inside: org.go) defer (umbra's words, naming the step, the host and
// its reply; the queue's DSN quotes that reply as the host's, and so a
// STARTTLS refused where TLS is required: queue openingHostReply — for
// which org.go names a server as its hop, "name[ip:port]" or host.String()).
// BODY=8BITMIME is declared only for a message that is 8-bit (received
// with it, or with a byte above 127: declaresEightBit), never because
// the hop offers it (smtp.Client.Mail takes out what go-smtp adds).
//
// MX limits (remote.go, mxLimit): one attempt through a send connector
// without smart hosts connects to at most its mx_address_limit addresses
// and talks to at most mx_session_limit hosts that answered SMTP (a
// greeting, a refusal at greeting, a TLS failure, a refused login; not a
// host that only lacks an extension the content needs), in the order of
// destinations (preference, random among equals) after orderHosts. A cut
// defers the recipients naming the limit and what it left (addresses
// known, hosts not looked up); the next attempt starts again from the
// best host. 0 means no bound (on connections; the lookups of an attempt
// then are bounded by time only).
//
// Large messages (stream.go): DeliverBody (queue.BodyDeliverer) takes a
// queue.Body. A body in memory goes through Deliver unchanged. A spooled
// one keeps only its header section (and whatever else its head holds)
// in memory — every header decision works on that as on a small body —
// and the spool file's part is read as it is written: SMTP/LMTP DATA in
// 64 KiB dot-stuffed pieces (smtp.Client.SendDataStream/PipelineStream,
// byte for byte what the whole message would give; also in shadow
// sessions), a Maildir file (mailbox.DeliverFrom), and DKIM/ARC signing
// in two passes (signing.SignOriginStream hashes, the send reads again).
// Each use opens the file anew; the queue removes it only after the
// commit that drops its last reference, so it cannot go mid-attempt.
//
// A message's pending recipients are grouped by destination: "local"
// (this server's own store, Maildir or LMTP: authoritative domains, and
// with a topology only those its Route sends there — a mailbox next hop
// with no server), one group per smart-host send connector, one group
// per (MX connector, domain), or — with a topology — one group per route
// (the routing GroupKey). With a topology every recipient that is not
// redirected is routed by Topology.Route, the function route explain
// asks, so the explanation and the plan cannot differ. Routes are relayed to the route's
// next hops in order (queue at point of failure) with the servers of a
// site taken round-robin. The topology routes a message's recipients
// together (fanout.go): recipients whose paths go on together past this
// site share one copy to the hubs of the site where they part (delayed
// fan-out, RT-6) — unless none of those hubs answers now (hopDown: each
// failed a connection within a minute, or is marked unresponsive), then
// each recipient takes its own route (rt56 F1) — and no route goes back to the organisation server the
// message came from (its shadow server, else the server of its client
// address; a DSN made here came from none) unless the path leads only there
// — or the message is a copy taken over from that server (any takeover:
// failed heartbeats, a new database met, expiry) under a database the
// server no longer runs (it holds no original: originLostIt, rt27a F3). Plan (plan.go) makes the
// same grouping for the queue manager's scheduler, which runs each group
// as a job behind its destination's concurrency window: delivery itself
// never waits for a connection slot. Each group is one SMTP transaction.
//
// Shadow redundancy: relays inside the organisation, and send connectors
// with send_xshadow, open a shadow session when the next hop offers
// XSHADOW; its accepted recipients come back ShadowedOK (the queue keeps
// the copy). Inside is every route of the topology (org.go) and every
// send-connector hop relayLeavesOrganisation keeps inside — an
// administrator's redirect, a smart host that is a server of the
// topology (leave.go: shadowsTo) —, its primary named as the topology
// names the server (shadowPrimary; by its name only at its topology
// address's port: another port of its host is another service,
// ServerReached): a relay there without a session
// would leave the message on that server's disk alone. After a transaction, at most once a second per connection,
// at the end of every shadow session (before the QUIT of a pooled
// connection: idle expiry, reload, Close; SR-3), and in Heartbeat, the
// discard notifications are fetched and handed to the shadow recorder
// (Config.Shadows, Contact; the XSHADOW reply, and the batches read by a query that then
// broke, are Presented: not a contact, SR-5). Each batch is handed over,
// and its commit has returned, before the session sends the primary its
// next command (the next XQUERYDISCARD or WAIT=, MAIL, QUIT): that
// command makes the primary forget the batch, so a kill -9 in between
// must find it committed here (F1); a failed save closes the connection
// instead. A shadow verb whose reply
// was not read whole closes the connection (smtp.Client): a next command
// would make the primary forget notifications this server never read. A
// ShadowedOK result names the primary's database id in that session
// (PrimaryDB), which the queue stores with the copy. A recipient taken
// over from the session's primary whose claim may give it back to the
// database that primary has just presented (queue.GiveBackRcpts) is not
// sent: its result is GivenBack, and the session asks for the discards
// at once — the primary is back with the original (rt16a F1). A next hop whose
// shadow session presents this server's own database id (SetDatabaseID)
// is this server itself: nothing is relayed, the recipients are deferred
// with 451 4.4.6 naming the hop (self.go).
// Likewise a send connector's next hop at one of this server's receive
// bindings (Config.OwnBindings), or at the unspecified address (0.0.0.0,
// ::, ::ffff:0.0.0.0, on any port: it connects to this machine itself,
// to the bound source address when one is set), is this server and is
// not connected to (self.go, ownBinding, dropSelf): a smart host that is this server is
// skipped; MX hosts no better than the best one at which this server
// appears are dropped, the better ones tried and their failure deferred.
// An MX address that is unspecified is dropped alone: it is not this
// server, so its host's other addresses and the MX hosts after it stay
// (only an MX with nothing else left loops on it). A host given by name
// elsewhere (mailbox.lmtp, a topology server's address: dialName) is
// held to the same rule when it is looked up: its unspecified addresses
// are never connected to, and a name with nothing else is refused
// (config.UnspecifiedNameError), which defers as an unreachable host.
// Nothing left: an MX fails with 554 5.4.6 "loops back to myself", smart
// hosts defer with 451 4.4.6. The address decides, not the greeting's
// name: two servers may share a name, never an address. An MX host
// named as this server (Config.Hostname, not localhost) is looked up
// first wherever the MX set lists it (within the attempt's bounds), and
// is this server only when one of its addresses is (rt16b F1); the one
// sentence for it is selfSays, naming the address that matched. CheckSelf
// (and Deliverer.CheckSelf) run the same lookups (nextHopNames,
// hostSource) and rule (dropSelf, nothingLeft) without connecting, for
// config check and route explain.
//
// Lookups of an attempt (mxlookup.go, hostSource): an MX host's
// addresses are looked up when the attempt comes to it, a preference at
// a time (this server among equals drops them all); at most 2 ×
// mx_address_limit names per attempt, and the MX and address lookups of
// one attempt take at most Config.MXLookupTimeout together
// (transport.mx_lookup_timeout; the connections between them not
// counted). A cut never bounces: the names not
// looked up might have addresses; with no address found the attempt is
// deferred 451 4.4.4 (names left) or 451 4.4.3 (time ran out), naming
// the bound. A domain that is an address literal or IP-address text
// fails 550 5.1.2 with no lookup. An MX record whose exchange is
// IP-address text ("10 192.0.2.1.") names no host (RFC 5321 §5.1): it is
// skipped with a WARN naming it and never connected to, and counts as a
// host without an address (resolver.NumericMX): with no other usable
// host the recipients fail 550 5.4.4 naming it, a denial no retry mends
// (the domain's DNS answered); another host that failed for now defers.
// A null MX (resolver.NullMX) is exactly one MX record, of preference 0
// and exchange "." (RFC 7505): 556 5.1.10 at once. A "." exchange
// otherwise is skipped as a numeric one is (resolver.RootMX).
//
// Watch (shadow.Watcher) keeps one shadow session to a primary open while
// senders wait for delayed acknowledgement: with a version-2 primary
// (EHLO "XSHADOW 2") it long-polls XQUERYDISCARD WAIT= so the primary
// pushes each discard as it commits; with a version-1 primary it queries
// on the same session every watchPollEvery. Never a connection per query.
// Reconcile (shadow.Reconciler) asks a version-4 primary which old copies
// it is done with (XQUERYHELD) and saves them as discards.
//
// PushOwedDiscards (stopdiscards.go) is the other direction, at a stop:
// this server, primary, opens a session to each server of the topology
// it owes discard notifications (as heartbeats log in, dialPrimary) and
// hands them over with XDISCARD (version 13), all servers at once, each
// within StopPushPerServer. A batch is forgotten here (its ack) only
// once every line of it was answered 250, which the server sends after
// its commit; anything not answered stays owed in the transport database
// and is fetched as before. A server below 13 is not pushed to. To a
// server of version 19 the delay notes go too ("<id> DELAYED": this
// server sent the copy's delay DSN), under the same rule, so that the
// copy, taken over, sends no second one; a server below 19 fetches them
// when this server runs again. The same hand-over, within the same
// bound, is made at each pass of the holders' probes to a server whose
// shadow sessions are refused here (Holders.Stale lists it while
// discards are owed to it, Holders.Probe pushes after its probe):
// its own discard queries are refused, so a copy made on it (the one a
// minute) was never discarded and was taken over at its expiry, a
// second delivery (rt30a F1). A holder whose sessions state another
// name than the one it is dialled by (another server of the topology:
// an alias of its host) has its refusal kept under the stated name; the
// link between the two is the one the transport database keeps with the
// holder's id (queue ShadowHoldersStated), read at the start, so it is
// listed after a restart too (shadow31 S1).
// Holders.Stale lists every transport server owed discards, whether a
// queued message has a copy there or not, so that the passes go on
// probing it after the queue here emptied; and the same hand-over goes,
// after a probe that reached it, to a holder that made no query here
// for two heartbeat timeouts (silentholders.go): a link failing one way,
// its sessions to this server failing while this server's reach it, left
// the discards owed until it took the copies over (partition49 F1).
// The same hand-over goes to a former holder (formerholders.go):
// a server the topology in force lists as no transport server (removed
// by a reload or at a restart, or given another role) while it holds
// copies made here or is owed discards. Its sessions are refused here,
// so its queries fetch nothing, and it took the copies over when this
// server died (rt31a F2): the discards owed to it are pushed, at each
// pass (Stale lists it, Probe pushes after its probe, which finds no
// server of that name) and at a stop, to the address this server last
// reached it at for a copy (queue holderaddr.go; recorded at each copy
// session's start and, for a transport server owed discards, from the
// topology at each pass), or the topology's address when it is listed
// in another role. The record goes once the topology does not list the
// server and nothing is owed to or held on it. That session is opened
// at each pass while the server holds copies here, owed something or
// not (sites48 F2): no probe goes to it, and its reaching the holder is
// the holder's answer at the takeover bound (Probe returns the database
// id it presented) — only when that id is the one recorded for the
// holder (metWith): one stating the holder's name with another database
// (wiped, reinstalled, restored) still gets its discards, but is no
// answer for the copies made here, as a holder of the topology back with
// a new database has them taken as lost and made again. With shadow redundancy
// off here (no ShadowServerID, no holders' pass) the discards still
// owed for copies made while it was on are handed over by
// PushOwedWhileOff every shadow_heartbeat_timeout and by the stop,
// under OwedPushID (owedpush.go): the holders' queries get 502 here.
//
// Shadow on receipt (receipt.go, receiptbatch.go): ReceiptShadow opens
// (or reuses) a shadow session to a server chosen by preference for a
// receive session waiting for its 250, and pushes the copy there. To a
// version-6 peer copies go in batches, leader and followers per peer as
// the queue's group commit: a copy finding no transfer to its peer in
// flight goes at once, alone; copies that come meanwhile wait and go
// together as the next batch, on the session of the oldest. Each copy's
// outcome is its own (a copy refused in the batch fails alone); a batch
// that fails whole fails each copy's first try, and each session makes
// its second try alone on a new session — unless the batch ran out of
// receiptTry (smtp.ErrCopyTimedOut: the peer hangs, and a new session
// to it would hang too): then no second try there, and the receive side
// moves the copy to the next candidate, as after a refusal, and the
// peer is marked for copies (copies:NAME) as well as under its name and
// address: a stalled disk answers sessions and heartbeats, which clear
// only the latter, and only a copy it keeps (the once-a-minute probe,
// receiptProbe) or a relay clears the former (rcptmark45 item 1); so do the
// copies queued behind that batch, answered with its timeout rather than
// sent to the hung peer as the next batch (rt55 F3). The session's own
// deadline run out within the bound (command_timeout under receiptTry:
// sessionTimedOut) is the same timeout; a reply read before it (a MAIL
// refused, then silence) does not make the try a refusal (cutByCaller
// quotes it), and still says the server kept nothing: the try is no
// push that may have left the copy there, owed no discard (cutTry).
// Only the try's own bound, or its session's deadline, or the connect
// timeout, run out is a timeout of the peer's (boundedTry, ranOutOfBound,
// peerSilent), and each marks the server as one that hung (hungAt)
// wherever it runs out: a push, a discard hand-over's connect, a
// session's XSHADOW for copies unanswered past command_timeout (rcpt47
// item 4):
// a push, a batch or a discard hand-over cut by its caller's end — this
// server's stop, the bound of a pass — is no hung server (hungAt), no
// smtp.ErrCopyTimedOut, and no second session (rcpt44 item 3); nor is a
// heartbeat cut by this server's stop an unresponsive primary in
// destination health (cutByOwnStop: its bound, a deadline or
// shadow.ErrHeartbeatBound, is; rcpt47 item 3). A copy waits
// at most for the batch in flight and its own, each bounded by
// receiptTry (10 s). A second try's new session (and a REQUIRETLS copy's
// session of its own) that cannot be had is recorded as a first dial's
// failure is (ReceiptShadow.dialFailed): a server judged a copied data
// dir there is marked refused:NAME and a refused session recorded as
// refused, never a server that failed (shadow26 item 5).
// A copy whose session ended mid-way — a 421 (the server stopping), an
// EOF or a reset (killed), at any step of the push, before or after the
// data's end, alone or in a batch — and whose second try there failed
// too is a failed try of that server as a refusal is: the receive
// session has the next candidate make the copy (RecopyRefused), that
// server counted against the budgets, and so does a copy made again
// (Recopy) within the same pass (midpush41). A server that got no reply
// read from it once the copy was sent (a session broken or reset after
// its commit, a push past its bound) may have stored the copy: the mark
// keeps it as one that may hold it (queue MarkSingleCopy, RecopyPushing;
// a copy made again is pushed only when that commit kept its server so,
// RecopyPushingNamed: a message that left or needs no copy any more by
// then gets no push, which nothing here would owe a discard, rrrcpt44)
// and the commit that names the next candidate owes it the copy's
// discard, which the receive session hands it before its 250
// (handMayHoldDiscards, XDISCARD within receiptDiscardPush), as does a
// made-again pass once it made the copy (Recopy, rcpt43 item 1): a
// primary lost at once after the 250 or the pass leaves one holder, not
// two (receipt42 item 1). When no next candidate takes the copy, the
// receive session's 250 says the copy is unconfirmed and may exist on
// each such server ("shadow copy unconfirmed: one may exist on NAME",
// result may_hold), not ", no shadow copy" (rcpt47 item 1): the mark
// makes the copy again and owes each its discard then. A message that
// left this server while its copy was made again on the next candidate
// within the receipt is told so, that candidate owed its discard,
// not "shadow copy on" it (rcpt47 item 5). A message that left this server before its
// copy was confirmed has them handed so too (HandLeftDiscards,
// rdwatch45), and so has one that left while a copy made again was in
// flight or while the hand-over waited: the record gone, they are found
// and waited for by the org id (queue UnconfirmedPushesOrg,
// AwaitOrgDiscardFetched; rdleft45). A server whose watch session is open here
// fetches it there first, woken by that commit, and the 250 waits for
// its acknowledgement within half the bound (queue watchfetch.go), not
// again while a session that let that wait run out has acknowledged
// nothing since (watchSilent); save
// such a fetch, a server whose push or hand-over ran out of its bound
// lately (hungLately: it would hang the 2 s on every receipt) fetches it
// at its next contact (rrreceipt42). One that answered "no copy held"
// while its commit of the copy was still under way keeps the discard as
// an early one that the copy's commit then takes, unless that copy was
// pushed under a later mark than the discard was made under (queue
// takeEarlyForPush). A server that answered every try — a refusal, or a 421 at MAIL,
// RCPT, DATA or the data's end — kept nothing (receiptLink.MayHold), and
// so did one whose session was lost before any byte of the copy's data
// was written (smtp.Client.DataSent; nothingHeldError, rcpt43 item 2): it
// is marked with its reply, not kept as one that may hold the copy, and
// owed no discard (receipt42 item 2; RecopyKeptNothing for a copy made
// again, unless it may hold one from before: mayHoldBefore).
// The retry budgets count every server tried for one copy, one that
// took no session too (down, of an older version, its SIZE below the
// copy): Open's link and each turn of the recopy loop carry the
// candidates passed before theirs (receiptLink.passed), which the copy
// made again counts as tried (rrmidpush41); so is the former holder a
// pass adds after the preference's candidates, within the budget of its
// kind (formerWithinBudget, receipt42 item 3).
// A copy the server refuses (a reply to it other than 421: 452 4.3.1
// from a full disk) gets no second try there: the server is marked in
// destination health for copies (copies:NAME, which only a copy it keeps
// clears — it still answers sessions, heartbeats and probes), and the
// receive session has the next candidate make the copy
// (RecopyRefused), the refusing server counted against the budgets.
// The receive session holds its message from its push until its reply
// (HoldRecopy): the made-again pass (Recopy) leaves a held message
// alone, though the failed push marked it held by this server only —
// else it pushed the copy again, to the server the session gave up on
// once that one answered again, and named it in the record over the one
// the reply names (rt20h-F1).
// Candidates of a kind rotate once per copy.
// Sessions of copies on receipt are pooled (takeIdle, putIdle) under
// the configuration they were opened by: after a reload none is handed
// out, as the delivery pool ends its own at a reload. A copy so goes to
// the address (and through the connector) the probe of its server
// takes; over a session to an address a reload moved the server from,
// a holder whose probes failed took copies every pass of the holders,
// each taken as lost again at the next (rr recopy39).
// A copy made again (recopy.go, Recopy: its holder lost it, removed it
// or set it aside) has one more candidate after the preference's: the
// server it was on (formerHolder, the mark's Lost; not the primary a
// taken-over message came from), a transport server of the topology —
// a hub, or an edge, which copies on receipt never go to
// (routing.ShadowCandidates lists hubs) — tried last, marked or not
// (openPlan). An edge back with a new database so gets again the copies
// of the hub it relays to when that hub has no other (rt32a F1). A copy
// taken as lost because no probe reached its holder for the takeover
// bound (queue.HowUnreachable) is not made on that holder while its
// last probe here did not answer (unreachedHolder): it may hold the copy
// still, and its probes failing, the next pass took the copy made there
// as lost again (rr recopy39). Once a probe answers it is a candidate
// again (tried last, as the mark's Lost): a mark naming a push to
// another server outlives the answer, and with that server gone the
// message stayed held here alone, its holder up (rr rrmix39).
//
// Outbound TLS policies (tlsout.go; package tlspolicy): a group sent
// through a send connector by MX (no smart hosts) gets, per MX host,
// DANE first (secure TLSA records: TLS mandatory, certificate matched
// against them), then the domain's MTA-STS policy (enforce: unlisted MX
// hosts dropped, certificate verified for the MX name; testing: checked
// and reported, delivered anyway), else the connector's tls setting. A
// failed check defers the host with 451 4.7.5 (the next host is tried);
// the reply names the cause (STARTTLS not offered / refused, TLS
// handshake failed, certificate name mismatch, no TLSA record matches,
// expired, untrusted: tlspolicy.Describe), never a blanket "STARTTLS
// unavailable", and the TLS report counts its RFC 8460 result type.
// The most telling reply of an attempt no host took is the recipients'
// (remote.go telling; org.go alike): a TLS policy's refusal (4.7.5)
// at a host that answered SMTP — the first such — outranks the failure
// of the hosts after it (a backup that refused the connection). So the
// message's last reply, its delay and expiry DSNs and the log name what
// stopped it, for all mail, and the queue's scheduler counts the
// attempt as the message's (an X.7.5 kills no destination): mail that
// may go without TLS ("TLS-Required: No") still goes to the host that
// answers, and a policy-bound message that is a dead destination's
// probe does not make it dead again. MX hosts an enforced MTA-STS
// policy does not list are named in words after the reply ("(mx2 not
// listed by the MTA-STS policy of D)"), the listed hosts' own failure
// kept: when those are down (4.4.x) the destination counts the failure,
// its window shrinks and it can go dead, rather than every message
// retrying them through connect timeouts. A failure after the whole
// body was sent (no reply to the final dot, an unreadable one, the
// connection closed after it: queue.MayHaveArrived) is the message's,
// not the destination's: the scheduler changes neither window nor
// streak for it (rt32d F2, TestQ6MessageFailureDoesNotKillDestination
// with the shared hung-destination fixture, faultHop).
// A pooled session (pool.go) carries a message only when it meets what
// that message's own decision demands (pooledMeets, rt17d F1): TLS when
// the policy or the connector requires it, the certificate check the
// decision enforces having passed on it (smtp.Client.Assurance: DANE,
// MTA-STS, the connector's verify), and an MX an enforced MTA-STS policy
// lists. A session opened for a "TLS-Required: No" message (RFC 8689 §5:
// in clear, or over TLS that did not verify) or by a testing policy
// thus never carries a message the enforced policy protects: that one
// gets a session of its own, and the pooled one waits, its idle time
// running on, for a message it meets. The check costs no lookup when the
// opener applied its whole decision and the session passed all of it
// (Assurance.Full): the next message's decision is that one or a relaxed
// one. After any other opener the message's own decision is made, once:
// the fresh attempt reuses it (destTLS.decided), so one message looks a
// host's TLSA records up, and reports a failure of them, once.
// Assurance.Full holds for the configuration the session was opened
// under only: a pooled session carries the mail of that configuration
// (pooled.st) — Reload ends the idle ones, and one an attempt under way
// at the reload finishes with is ended, not pooled (rr ops39 F1: a
// connector made tls: required had its next message sent in clear over
// such a session, opened under tls: none).
// No session is pooled, nor taken from a pool, with a transaction that
// may be open at the next hop (smtp.Client.TransactionOpen: a MAIL taken
// and no reply to the end of its data nor RSET since — a refused DATA
// leaves the transaction open, RFC 5321 §4.1.1.4): finishConn and the
// copies on receipt's putIdle end it with RSET (Client.Settle, bounded
// at 2 s) or close the session, and Client.Alive says no to one left
// open, whichever path forgot it (rt43-delivery F1: the next MAIL was
// refused "503 nested MAIL command" and failed its message for good).
// Whichever path forgets it still, a reply out of step is no refusal
// (the out-of-step rule, transaction.go): a 503, 500 or 502 with no
// enhanced status or a 5.5.x one to MAIL, RCPT or DATA — commands umbra
// sends only in order — defers the transaction's recipients with "451
// 4.4.2 HOP: out of step at CMD: REPLY" and closes the session (never
// pooled) — one recipient's RCPT answered so defers it alone, and the
// others are asked and the accepted ones sent the message before the
// session closes, lock-step as pipelined; on a reused session with no body begun the message goes on
// a fresh connection in the same attempt, whole, whatever else the
// session answered it (reuse: wentOutOfStep, as sessionGone's "gone
// before the next hop had any of the message"); on a fresh one the
// recipients answered so — out of step, or, while no body was begun,
// with a stray reply, a 421 or a break of the session (at the greeting
// and EHLO a connect failure already did; nextHostFor) — go on to the
// next MX host (org.go: the route's next server) in the same attempt,
// the others' results standing (deliv47, deliv48: the remote's fault,
// and the host has nothing of the message, as after a refused
// connection); with no host left, or only hosts after it that could not
// be connected to or said nothing (a down backup MX: deliv48; a route
// server closed before its greeting: rddeliv48), they keep that host's
// deferral — its own words, and whether it answered: an answer out of
// step is no failed contact, a 421 is one and names the reason a dead
// mark gives — the retry schedule takes it, and it bounces only at
// expiry. A host after it that answered otherwise (its refusal, its
// TLS, a limit's cut) gives the reply that stands, as tlsStop's.
// A DSN quotes
// the host's reply (queue.OutOfStepText, openingHostReply), and the
// scheduler counts it an answer, never a step toward a dead
// destination (queue.AnsweredOutOfStep, feedback). Every result whose
// host answered the command itself says so (queue.Result.Answered,
// set by classify and the out-of-step rule: the host's own reply that
// is no 421, one out of step, a stray 3xx; and remote.go's
// queue.NotSentReply of hosts tried that all answered, which the
// scheduler counts neither way): its deferral — a host's own "451 4.4.2
// too busy" to MAIL, its own 4.7.5 — is its message's, no failed
// contact of its destination (rt44 delivery2 F4). A 421, whatever its
// status, is never answered: the host closed its session, a failed
// contact (queue.HostClosed). Exactly then, the stored reply's words
// and its next hop say the same after a restart (queue.AnsweredReply:
// the host's own reply is recorded against it and never names it,
// umbra's words on an attempt always do — a relay through a shadow
// session records the server by its name, which its words name too;
// TestQ6AnsweredReadBackFromTheStoredReply,
// TestQ6OrgServersOwnReplyReadBackAsAnswered). A callout's RCPT
// answered so cannot decide (verify.go). A 5xx with another status
// (501 5.1.7, 503 5.7.0) and the reply to the end of the message are
// judged as ever — but an LMTP server's per-recipient 500, 502 or 503
// to the end of the message, its session's sequence error, which
// defers that recipient (finalResults, deliv48) as out of step at the
// end of the message (queue.EndOfMessage): its message went to the
// server, so neither the next server nor a fresh session gets it in
// the same attempt (nextHostFor, reuse: rddeliv48); the retry schedule
// takes it.
// REQUIRETLS messages (queue.Message.RequireTLS) go only over a verified
// hop to a host that offers REQUIRETLS, and are never sent on a pooled
// connection. Permanent by definition, 550 5.7.10 at once (RFC 8689
// §4.2.1): the destination publishes no DANE or MTA-STS policy (and no
// failed fetch says it might) and the connector does not verify; or a
// verified hop does not offer REQUIRETLS. Anything that may pass (TLS
// refused or reset, a certificate that does not verify, an MX the policy
// does not list, a policy not fetched yet, secure TLSA records none of
// which is usable, a TLSA lookup that failed) defers with 451 4.7.5
// REQUIRETLS (policyDefer: one form for every deferral before a
// session) and is retried on the schedule; at expiry the queue fails it
// with 5.7.10. Once TLS kept it from a host (this attempt: tlsFailed; an
// earlier one: the recipient's last reply), an attempt that reaches no
// host over verified TLS keeps that form whatever the last host or DNS
// did (requireTLSDefer; carried from an earlier attempt with this
// attempt's own status, 4.4.x, so the scheduler still sees a destination
// that does not answer: requireTLSCarry), so expiry says 5.7.10. A REQUIRETLS message's DSN carries REQUIRETLS and the
// headers only (RFC 8689 §5); as a bounce (null sender) it is not stopped
// by a verified hop that does not offer REQUIRETLS. Relays inside the
// organisation (org.go) hold to the same for a REQUIRETLS message:
// STARTTLS verified for the server's name (TLSVerify, or the login
// connector's TLS raised to verify), no pooled session, REQUIRETLS
// offered (else 550 5.7.10, a bounce excepted: requireTLSRefusal, the
// one place both kinds of relay ask); no STARTTLS or a certificate that does not
// verify passes to the next server and defers 451 4.7.5 REQUIRETLS. LMTP
// final delivery is no relay. Its shadow copy on receipt goes only over
// a session whose certificate was verified for the server's name
// (smtp.Client.TLSVerified; dialPrimaryTLS raises the session's TLS as
// org.go does): ReceiptShadow.OpenVerified takes such a pooled session
// or opens one, passing over (unmarked) a candidate that cannot give
// it, and receiptLink.Push opens one of its own to the same server when
// its link's is not verified (copies share pooled sessions with
// opportunistic TLS); never in a batch (receiptbatch.go: a batch goes on
// its oldest copy's session); made again (recopy.go) the same way.
// "TLS-Required: No" (its unfolded value,
// header.Values) makes DANE and MTA-STS failures not stop the message, nor a
// check that could not be made (a failed TLSA lookup: hostTLS lets the
// host through with the connector's setting, at least opportunistic TLS,
// destTLS.unknown; the MTA-STS TXT lookup's and the fetch's failures hold
// only REQUIRETLS); the MX and address lookups still hold it. Every session to
// an MX host is counted for TLS reporting, once; a failed MTA-STS fetch
// (no cached policy) is counted with the sessions it left without a
// policy, and with each host it kept a REQUIRETLS message from — the
// engine's fetch itself counts nothing (destTLS.report, hostTLS). An MX
// host an enforced MTA-STS policy does not list is never connected to:
// each delivery attempt that passes it over counts one
// validation-failure for it (filterHosts), the session that attempt
// would have made; nothing else counts it (route explain, a pooled
// session's check, a dead destination's wait: no attempt).
//
// Outbound connections bind to the send connector's source_address, else
// server.source_address (source.go); New binds each once, so an address
// the host lacks fails the start.
//
// Pipelining (RFC 2920, transaction.go): when the next hop advertises
// PIPELINING (SMTP or LMTP), MAIL FROM, every RCPT TO and DATA leave in
// one write (smtp.Client.Pipeline) and the replies are read in order;
// the mapping to results is the lock-step one (pipelinedResults: a
// refused MAIL refuses all with its reply, each RCPT reply decides its
// recipient, a refused DATA refuses the accepted ones, a break defers
// whatever was not answered). A next hop that answers DATA with 354
// though its MAIL was not accepted (refused, or answered out of step by
// a host still holding a transaction of its own) or every RCPT was
// refused gets no message data, not even the lone dot RFC 2920 §3.1
// suggests: a dot ends whatever transaction the host holds, an empty
// message delivered to recipients umbra never saw accepted. The data is
// abandoned by closing the connection (smtp errDataAbandoned), the
// recipients keep MAIL's reply or their own (deliv48). umbra sends no
// BDAT, so no chunk can follow such a refusal either. A next hop
// without PIPELINING gets lock-step commands, where DATA follows only
// an accepted MAIL and an accepted RCPT.
// The stall marks of a transaction (queue.InEnvelope, InMessageData,
// HostReplied) name its host as the results record it — the mailbox
// store's LMTP server as queue.LMTPHop, not "lmtp" (withMarkHop) — and
// every reply moves the since of the recipients still waiting, each of
// LMTP's per-recipient final replies too (smtp SetOnFinalReply). A recipient a next hop refuses at RCPT as too
// many (452, or 4.5.3: RFC 5321 §4.5.3.1.10) in a transaction that
// accepted others goes at once in the next transaction of the session
// (transaction, batched), or of a new session when the hop closed it
// after the data (Deliver, batchedLeft); each round settles one at
// least, so the rounds are bounded by the recipients, and a transaction
// that accepted none leaves its 452s deferred as any reply. A success is
// recorded with the next hop's own code (smtp.DataReply.Reply: 251, 252
// and 299 are not made 250; RFC 3464 quotes the host's reply), and so
// is a callout's accepted RCPT (Verify, smtp.Client.RcptReply).
// Relays send the organisation id line and the
// stored body as parts (orgid.Parts): no copy of the body per attempt;
// only final delivery joins them once per message.
//
// A stop (the attempt's context ends) closes a transaction's connection
// at once, unless the message's body has begun (the client's BodiesBegun
// count moved): from then on the next hop may hold the whole message,
// dot included, before the writing goroutine learns its last write is
// done, and a close would leave it delivered there and due again here
// (SMTP's duplicate, RFC 1047). The body and the reply to its final dot
// get up to stopReplyGrace (10 s) more and the result is committed as any
// other; a body still unfinished then is cut, and the next hop discards
// it (TestStopDuringBodyFinishesTheTransaction).
//
// DSN (RFC 3461): go-smtp passes NOTIFY, ORCPT (rfc822 or utf-8, RFC
// 6533: raw only in a transaction that uses SMTPUTF8, else as
// utf-8-addr-xtext — the transaction decides, not the hop's EHLO
// (smtp.Client.Rcpt, TestUTF8OrcptFormFollowsTheTransaction); any other address type as
// given, written by the pipelined RCPT formatter, left out to a hop
// without PIPELINING, which go-smtp writes; an rfc822 one that is not
// printable ASCII goes as utf-8, TestSMTP1GroupMemberUTF8OrcptIsSent),
// RET and ENVID on when the next hop advertises DSN; a relayed result
// then carries DSNPassed and the queue sends no success DSN for it.
//
// A command go-smtp refuses to write (smtp.NotSentError: nothing went
// on the wire) is no lost connection: classify fails its recipient (all
// of them for a MAIL) at once with "554 5.5.4 HOST: RCPT not sent: …",
// umbra's words naming the hop; the session, the transaction's other
// recipients and the destination's window go on as if it had not been
// tried — the same record would be refused at every attempt
// (TestSMTP1UnwritableRcptFailsAloneNotTheConnection).
//
// Sessions to another transport server — a push of a copy on receipt,
// a heartbeat, watch session or reconciliation to a primary — all open
// through dialPrimary (a relay to a hub of another site, deliverOrg,
// through connect with the same loginVia), by one rule: the send connector the copies went
// by when this server has one of that name (sessionVia: a topology
// connector it does not configure, or one a reload removed or renamed,
// is passed over — the copies record configured connectors only,
// shadowVia), else the send connector that logs in to that server (loginVia),
// else the organisation's opportunistic TLS with this server's client
// certificate. Such a session that cannot connect because this server
// cannot bind its source address ends with a sourceFault, a
// shadow.LocalFault: no failed heartbeat, no mark of the peer in
// destination health (heartbeat, push of a copy on receipt, probe of
// a holder, whose last answer is kept), no copies of a holder taken as
// lost for it (package shadow). A 5xx reply in a session to a primary, or a reply
// refusing the login (authFailed: 535, a lockout's 454; never a 421,
// which closes the connection and refuses nobody; or an EHLO reply that
// offers no login, smtp.ErrAuthNotOffered, nothing sent), is returned as a
// refusal (refusedError, shadow.Refusal) carrying the whole reply (its
// enhanced status code too) and the database digest the server
// advertised (XSHADOWDB): the shadow manager takes it for the
// primary's — alive, no failed heartbeat — only when that digest is the
// one of the database the copies were made against (shadow doc.go,
// Judging a refusal). A relay whose XSHADOW the next hop refuses goes
// on without a shadow copy (openShadow): at WARN with the reply,
// recorded by the shadow recorder (SessionRefused, session "relay"; it
// judges the digest, paces the WARN and counts it) — except a message
// carrying a taken-over copy (queue.TakenOverIn) to a transport server
// of the topology whose refusal says it takes this server's database id
// for another server's (a copy of this server's data dir): that is not
// sent over the session at all, the server is marked refusedKey and the
// hop's next server tried, as for one presenting another server's
// database id (rt27a F1), its deferral 4.7.0 (the hop answered: no
// failure toward the destination's death). Refused for any other reason
// (shadow redundancy off there, no right to the verbs) or broken at
// XSHADOW, a taken-over copy is relayed plainly and the org relay names
// the server in its results (queue.Result.RelayedTo), so its returning
// primary is told (shfix27 F1). Every session this server opens to a
// primary — relay, heartbeat, watch session, reconciliation
// (openPrimarySession) — whose XSHADOW reply presents another server's
// database id marks it refusedKey, and one let in clears the mark, so
// that queue destinations' server:refused row and the shadow recorder's
// refused state end together (rt28e F3). A transport server of the
// topology whose XSHADOW reply states another name than the topology's
// (shadow verbs 20: a server renamed in the shared topology whose own
// reload was refused) gets no relay with a shadow copy either
// (statedname.go, sites48 F1): its discards are fetched by any session
// to it, under either name, and matched only the copies filed under the
// name asked; it is marked refusedKey, the hop's next server is tried,
// its deferral 4.7.0. A shadow server
// that refuses the session for copies on receipt (ReceiptShadow.Open)
// is reported the same way (session "receipt", WARN at most once a
// minute per server) and marked in destination health with the reply.
//
// Destination health (queue.Health, owned by the scheduler; SR-16): a server that failed a heartbeat
// is tried after every other server of its route (a site's servers, a
// send connector's hosts) from that moment, until a session with it
// succeeds; so a hung primary costs no command timeout per message once
// its heartbeat failed. Once per dead destination cool-down a marked
// server keeps its normal place for one ordering (queue.Health.Last, a
// probe): a primary whose taken-over copies all went on gets no
// heartbeat any more, and a server marked for copies (a full disk) is
// cleared only by a message it takes; both are found again this way
// when they answer. The record is memory, rebuilt at start from the
// stored shadow state (MarkUnresponsive).
//
// Final delivery (SR-11): every group bound for a mailbox belongs to one
// mailbox database (mailbox.database for the local store, the topology's
// database for a mailbox server) and waits in queue mailbox:DATABASE.
// Before writing, each recipient is claimed through Dedup (the queue's
// FinalClaims, given at construction): a message (by organisation message id, never the sender's
// Message-ID) the database already got for that recipient is answered
// DeliveredOK with Duplicate set and not written; one another attempt is
// delivering right now is Deferred; results name the database so the
// queue records the delivery and keeps the dumpster copy. A Reply is
// what a DSN quotes to the sender, often outside the organisation: a
// duplicate's is a first delivery's on that path ("delivered to
// maildir"), a copy in flight's names no id, and the detail with the
// organisation id goes to Result.Note (the tracking log). Maildir file
// names come from (database, org id, recipient) (package mailbox).
//
// Identity (SR-14): every copy Deliver sends or writes inside the
// organisation — relay, shadow session, LMTP, Maildir — starts with the
// X-Umbra-Org-Id header written from the record (package orgid); the
// stored body holds none. A relay also carries X-Umbra-Repeat for a
// copy that may repeat another server's lost mailbox write (queue
// Message.Carried: a taken-over copy, or one that came so); a mailbox
// copy never does (Deliver's final delivery, deliverOrg to a mailbox
// server), and the Maildir writer looks for such a copy by name in
// every folder at its first attempt too (mailboxCheck). A copy leaving the organisation through a send
// connector carries no X-Umbra- header (leave.go: leavesOrganisation),
// so no outsider learns an id to replay; an administrator's redirect
// and, without a topology, a send_xshadow connector count as inside.
// A relay that leaves so, and whose connector has no smart host that is
// a server of the topology (routing.SmartHostServer), says so in its
// results (queue.Result.LeftOrg, leave.go: relayLeavesOrganisation): a
// taken-over copy's recipient relayed so is noted for its returning
// primary (queue takendone.go). A relay that stays inside, through a
// connector every smart host of which is one server of the topology (or
// a redirect to one), names that server in its results
// (queue.Result.RelayedTo, leave.go: relayServer), as does a relay of
// a site's server made without a shadow session (org.go): the queue
// notes it for a returning primary that is not that server.
// Final delivery (Maildir, LMTP, a mailbox server) writes only the id
// line in front of a message with the null reverse path — a DSN's own
// id, never the reported message's, and no other X-Umbra- field
// (idOnlyAtFinalDelivery) — so a mailbox knows a DSN again as any
// message (the Sieve rule, the Maildir header search). A
// Maildir file already there (a shared store) is a suppressed duplicate
// (mailbox.ErrAlreadyDelivered), not a delivery. A mailbox server that another hub also delivers to drops a copy
// it already has by that header (deploy/dovecot: a Sieve duplicate test).
// A Maildir write that fails defers the recipient with the errno's words
// for its cause after "451 4.3.0 maildir write failed: " (permission
// denied, read-only file system, no space left on device), so message
// show tells the operator what the log does; never the path, which holds
// the address (maildirFailedReply).
//
// Signing (sign.go): a copy that leaves the organisation (the same rule)
// gets umbra's DKIM-Signature and, for mail umbra authenticated on the
// way in, an ARC set (package signing), over exactly the bytes sent; a
// retry sends the fields made the first time (the signer's cache); a
// message the signer cannot read leaves unsigned.
//
// Trace fields and loops (loop.go): at final delivery Return-Path (the
// envelope sender) and Delivered-To (the recipient) come from umbra's
// envelope: arriving ones are removed; the Maildir store writes umbra's
// own, and an LMTP server writes them from MAIL FROM and RCPT TO (Dovecot
// does, per recipient; umbra adding them too would double them). A message that arrived with a Delivered-To naming the
// recipient was delivered there before: that recipient fails with 5.4.6
// (checked on the arriving fields, before umbra adds its own; each read
// as RCPT reads a path, smtp.HasFieldAddress, so the field umbra wrote
// names the recipient it wrote it for). A group
// that would relay a message the next hop would count above
// max_hop_count (its Received: headers and the next hop's own) fails
// with 5.4.6 and is not sent: an umbra hop with the same limit takes
// whatever a relay sends it.
//
// Invariants and failure semantics:
//   - 2xx for a recipient means the next hop took it (Relayed) or the
//     mailbox has it (Delivered: Maildir fsync'd, or LMTP's per-recipient
//     250). Only then may the queue forget the recipient.
//   - 4xx, network errors, DNS failures, TLS policy failures and a missing
//     send connector are Deferred; 5xx, a null MX, a domain that does not
//     exist (5.1.2), MX hosts none of which has an address (5.4.4, each
//     host and its failed lookup named: resolver.NoAddress, the reply
//     route explain shows too) and a message larger than the connector
//     allows are Failed (the queue returns a DSN). A smart host without
//     an address is Deferred: it is the operator's. Configured size limits hold the message as
//     its sender sent it, without the trace field umbra wrote in front of it
//     nor what the receiving sessions added (queue.Message.Grown; ownBytes);
//     the next hop's SIZE holds what is sent (size.go). A refusal for a
//     configured limit names the size held to it and the size stored
//     (sizeSaid), which the log and message list give.
//   - Concurrency per destination is the queue scheduler's: a window up
//     to the connector's max_connections (else
//     max_connections_per_destination); delivery waits for no slot. Finished connections are
//     kept for idleReuse and reused by the next message to the same
//     destination (or server) when Client.Alive finds nothing pending on
//     them (no NOOP round trip). A close Alive could not see yet (on its
//     way) shows at the next MAIL: a pooled connection that answers it
//     with 421 or breaks before a body was begun gave the server nothing,
//     and the message goes on a fresh connection in the same attempt
//     (pool.go, reuse) — its outcome never depends on when the close
//     arrived. A transaction that began a body is never repeated there.
//   - A connection greets once: when STARTTLS is not offered, the
//     prelude's EHLO reply answers go-smtp's own EHLO (no second one).
//   - When ctx ends, open transactions are cut and their recipients
//     Deferred; the queue commits what was done and makes the rest due.
//   - A panic in outbound work is umbra's defect and ends only that work
//     (panics.go): a group's recipients Deferred with queue.PanicReply
//     (tried again, never marked delivered; no window feedback), its
//     connection closed; a heartbeat, watch, reconcile, callout or push
//     ends with an error; the expiry's cut of a transaction is not made
//     (the checks before DATA and the body still find the expiry), an
//     idle session of copies on receipt ended apart is closed. Every
//     goroutine outbound work starts recovers so. Counted
//     (PanicObserver) and logged once a minute with the stack.
package delivery
