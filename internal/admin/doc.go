// Package admin is umbra's admin API: JSON over HTTP on a local Unix
// socket, served by the running daemon. The CLI talks to it; it never
// opens the transport database itself (bbolt allows one writer process,
// and the daemon holds it).
//
// Invariants:
//   - The socket is created with mode 0660 (owner and the service group);
//     a stale socket file is replaced, a live one (another daemon) is an
//     error. Its file, removed or replaced under the running daemon, is
//     made again at SIGHUP (Server.Remake; a file that is not a socket
//     is left alone); closing a listener never removes a file by its
//     name, and the stop (and a move) removes the file only while it is
//     still the one the daemon made (removeOwn).
//   - Every state change goes through the queue manager's operations, one
//     transaction each; the API adds no state of its own.
//   - The web console (package console) serves the same handler
//     in-process (Handler): its reads and actions are the CLI's.
//   - Strings from the network (senders, recipients, EHLO names,
//     replies) reach the JSON with every character a terminal or a
//     browser would act on escaped (\u009b, \u202e; jsonescape.go), as
//     the CLI escapes them; the console's pages use the same escape. A
//     byte that is not UTF-8, which JSON cannot hold, is written as the
//     text \xNN (textbytes.go), never as U+FFFD, which hides the byte;
//     a run of backslashes that would read as such an escape (the text
//     \xNN a sender wrote) is written doubled, in every string of every
//     answer, so that the byte and the text read apart (a test fills
//     every string field of every answer type).
//   - Errors are JSON {"error": "..."} with a status scripts can rely on:
//     400 bad request, 404 no such message, queue, state, dumpster
//     database, transport database id or quarantined message, each said
//     in its own words (queue.NotFoundError: never "no such message" for
//     what is not a message id; a message id not here is named,
//     "no such message <id>": messageNotHere) (the error
//     lists the valid names: a typo never acts on a phantom queue; a
//     suspension, resume or retry of a queue that holds no message is
//     checked against the configuration in force by the SetQueueNames
//     check; so is the database of a redelivery request that has no
//     copies; a quarantine release or delete of a message that is not
//     quarantined), 422 an action that does not apply (to a shadow copy;
//     a retry of a suspended queue or of a message only such a queue
//     holds; suspend, resume or retry of poison, quarantine or a
//     dumpster queue; resume of a message that is neither suspended nor
//     poison; the export of a message whose spool file is damaged), 409
//     message in delivery (try again) or a redelivery request id reused
//     for other parameters (never retry that), 503 a redelivery request
//     stored and begun whose later commit failed (a full disk: finished
//     at the daemon's next start, or by a retry with the same
//     request_id), 500 anything else (for a redelivery request that
//     could not be stored: nothing was done).
//   - An error's text is escaped once, by its type (failErr): a refusal
//     in the text form already (jsonsafe.TextError made by
//     jsonsafe.Textf — a redirect target, a filter's value — and
//     queue.UnknownNameError) is answered as it is (failShown), any
//     other by the answers' rule (fail, writeJSON): escaped again, a
//     value's \x0a would read \\x0a, the text of its escape.
//   - The client's own refusals (no answer on the socket, starting,
//     stopping, its socket gone or elsewhere, permission, an answer
//     without umbra's text) are in the text form (Client.shown,
//     ShownText, shown.go): the socket, the transport database, the
//     configuration files and a holder's command line each on one line
//     (a control character as \xNN), a value quoted as Go's %q writes
//     it (the byte 0xe9 \xe9, escaped once already) kept as it is
//     (jsonsafe.QuotedAsIs), the rest by jsonsafe.TextBytes — made so
//     where the text is made, so the CLI writes them as they are.
//   - Once the daemon's stop began (SetStopping, at the drain after
//     SIGTERM) every answer carries the header X-Umbra-Stopping: no
//     delivery attempt starts before the next start, so the CLI says
//     that what a command made due goes then, not now (Client.Stopping).
//     The header is set as the answer is written, after the action.
//     The API answers through the drain; Shutdown (after it) lets the
//     requests under way end until its context ends, then closes their
//     connections: a client that never sends the body it announced
//     cannot hold the stop (rt16c F1).
//   - Every state change is audited: a log line and an "admin" line in
//     the tracking log with the action, its target (the message's
//     envelope, or the queue), the result and the actor, the socket
//     peer's uid and pid from SO_PEERCRED. An action refused before it
//     is tried (a bad redirect target, an unknown queue or id, the
//     poison queue, an unknown action; a message in delivery, a shadow
//     copy or a state the action does not change, as the queue refuses
//     it: refusal) is audited as one that failed,
//     "refused: " and the refusal's words (auditRefusals wraps each
//     action's handler — queue, message by id, bulk message, flush,
//     forget-database, quarantine, dumpster resubmit and remove, TLS
//     report send; a dry run is not audited). A command in batches (a bulk
//     message action, a queue resume, retry, redirect, flush) is one
//     line with its counts over all its batches, written at its last
//     batch, at a failure, at a batch whose client went away, or, for
//     one that asked for no further batch, when its client says so
//     (POST /v1/selections/TOKEN/stop: the CLI's Ctrl-C, stopSelection)
//     or, for one that never says, when its selection is forgotten
//     (idle, evicted, or at Shutdown: auditLeft); the tally is kept
//     with its selection. Not one line per message or batch.
//     What its commits changed is also counted in those commits
//     (withTally, queue.WithTally), and so are the messages it reached
//     and left as they were (a queue action's in the same commits, a
//     bulk message action's at the end of each batch: tallyUnchanged):
//     a line written deletes that record (endTally), and a record a
//     start finds is of a command the daemon's kill or crash cut short
//     — its line is written then, from the record (auditStopped), with
//     the messages selected, changed, left as they were and not
//     reached (a redirect's left in delivery and kept for REQUIRETLS
//     apart, worded as its live line words them: BulkTally.InDelivery,
//     KeptRequireTLS), so the audit of what was committed does not
//     depend on the command ending. A command between its batches (its
//     last ended with more to do, none begun since) is marked so in its
//     record (BulkTally.Waiting, tallyWaiting), so a stop then is told
//     as one that cut no batch: no further batch had been asked for.
//   - A bulk message action hands the queue the messages it selected
//     many at a time (MessageBatcher, queue.Manager.MessageBatch): many
//     share a commit, each answered as the action on it alone answers.
//   - A bulk action needs a filter (or all=true): an empty filter never
//     selects every message by accident. One request does one batch
//     (BulkResult: oldest first, after=ID, through=ID, max_time, counted
//     from the request's arrival: the wait for another batch and the
//     selection are inside it), so that no request of a bulk action
//     outlasts the client's wait on any queue size; the client runs the batches to the end. The first
//     batch selects the messages once and keeps the selection for the
//     next (selection=TOKEN, batches.go); a dry run builds its view of
//     the scheduler once per batch. Every batch is refused what its
//     action refuses (a shadow queue's suspension, poison's retry); a
//     later batch whose selection is held skips the name checks (and a
//     redirect's check of its target), which its first passed; one
//     whose selection is gone selects again and is checked again. Batches run
//     one at a time (bulkMu), a command's first selecting what is left; a message gone
//     by its turn is skipped ("no longer queued"), not failed, and so is one the
//     action has nothing to do on as it finds it (queue.SkipReason: not
//     suspended for a resume, already suspended, …), by reason. A removal from the dumpster by
//     filter needs confirm=true as well (dry_run=true lists only).
//   - The client tells why a request got no answer (stopped.go): no
//     daemon to connect to (ErrUnavailable, in words: the socket, the
//     transport database and that no process holds it, notumbra.go), a
//     path that is not umbra's admin socket (ErrNotAdminSocket: a file
//     that is no socket, or another program's socket whose answer is not
//     umbra's — told by the answer, and by who listens there: a daemon
//     of another release is named as such), the daemon gone during the
//     request (ErrStopped: it was running when the command began; for a
//     change, whether it took effect is unknown; a backup leaves no
//     file), no answer within the client's bound, or a connection
//     dropped by a daemon that still runs. "Not running" is said only
//     when the dial failed before the command's request reached the
//     daemon — once it did (written whole to a connection, or a batch
//     of it answered), a dial that fails afterwards, the transport's
//     retry of an unanswered GET or the next batch, is the daemon gone
//     during the command —, and not for a dial refused for permission
//     (ErrPermission: the socket refuses this user; whether a daemon
//     runs is not known, and the error names the socket's owner and
//     mode). Nor is it said of a daemon that listens on a socket made
//     at the path whose file was removed or replaced (ErrSocketGone,
//     socketgone.go: /proc/net/unix still names it, and the holder of
//     the database, or a process of this user, has it open): it runs,
//     and SIGHUP makes the socket again; "starting" is said only when
//     no socket of that name is listened on, and the holder of the
//     database has not written a run file beside it naming another
//     socket it answers on (RunFile, runfile.go): a ready daemon whose
//     configuration file was edited since its start or last reload is
//     ErrSocketElsewhere, with its socket (--socket OLD) and SIGHUP —
//     SIGHUP and the file only when a file gave the command's socket:
//     a socket named on purpose that a reload left is told to use the
//     daemon's socket (Named);
//     and where the database the file names is held by none, a serve
//     started with the same file (its command line) is that daemon, run
//     with the data_dir the file named at its start: ErrSocketElsewhere
//     too, not "not running"; and a command that named no configuration
//     and no socket (SetDefaultConfig) names the umbra serve processes
//     it may believe (trustedRunner), started with -c another file:
//     ErrSocketElsewhere (Other), "give -c" (OtherServeErr). The scans
//     behind these answers (serveProcs, a daemon's socket by its
//     descriptors and the one table of listening sockets) read every
//     process and socket the host shows, with no cap: the daemon looked
//     for may be any of them. A request cut, unanswered
//     or answered without umbra's error text while another process's
//     socket is at the path and the daemon listens on its own made
//     there is ErrSocketGone too ("replaced", replacedErr): who answers
//     at the path is asked of the kernel (SO_PEERCRED of a new
//     connection: the pid that made that socket listen), compared with
//     the holder of the database — never inferred from /proc/net/unix,
//     which lists a removed socket under its path as long as it
//     listens, nor from /proc/PID/fd, which a member of the socket's
//     group may not read; the daemon's own socket there keeps "did not
//     finish … busy" and "closed the connection", and a dial refused
//     with EAGAIN (its backlog full) is busy, not gone. An APIError keeps the
//     daemon's error text as sent (Msg "" for none: a bare 404 of an
//     older release, which route explain falls back on); its Error
//     says what answered. A connection cut during a
//     request with the socket's file gone and its listener still there
//     is "still running" with that, not "stopped". "Still runs" is said only when the daemon
//     answers a probe (GET /v1/status): a killed daemon's listener
//     outlives its connections by a moment and takes a connection into
//     its backlog meanwhile, so a connection proves nothing. Nor is
//     "not running" said of a daemon starting: one that holds its
//     transport database (ErrStarting, LockHolder), and, before it
//     locks it (reading and checking its configuration), one that
//     listens on the abstract socket named after its admin socket's path
//     (ListenStarting, startmark.go: umbra serve from its first moment
//     until its database is locked; its pid and uid from SO_PEERCRED,
//     and only umbra serve of this installation counts — root or the
//     owner of the database, the executable the command runs, serve its
//     subcommand (trustedMark: an abstract name carries no permission);
//     "stopping" only while the database is held; a db command holding the
//     database meanwhile is named by its lock). Nor is "starting" said of
//     a daemon stopping: from the start of its drain until it exits it
//     listens on that name again answering "stopping" (ListenStopping,
//     ErrStopping), as it holds its database a moment after its admin
//     socket closed.
//
// Endpoints (v1):
//
//	GET  /v1/status (server, role, version, database id, start time, the
//	     absolute paths of the configuration file and the tracking log, and
//	     the state of the last configuration reload: ReloadState)
//	GET  /v1/queues
//	POST /v1/queues/{name}/suspend | resume | retry | redirect?to=host[:port]
//	     [&max_time=DURATION][&after=ID&through=ID&selection=TOKEN]
//	POST /v1/flush[?max_time=…&after=…&through=…&selection=…]
//	     (resume, retry, redirect and flush in batches: batches.go,
//	     QueueResult; without max_time the whole selection at once; a
//	     resume's answer says where the messages it made due go:
//	     released_to, messages per scheduler destination)
//	GET  /v1/messages?queue=&from=&to=&state=&domain=&older_than=&limit=
//	POST /v1/messages/suspend | resume | retry | remove?FILTER[&all=true][&dry_run=true][&ndr=true]
//	     (or given=true: the ids in the first batch's body, one a line;
//	     each batch answers done, unchanged, not_found and failed ids)
//	GET  /v1/messages/{id}[?recipients=all] (without: the first RecipientsShown recipients, the rest counted)
//	GET  /v1/messages/{id}/eml
//	POST /v1/messages/{id}/suspend | resume | retry[?dry_run=true]
//	POST /v1/messages/{id}/remove[?ndr=true][&dry_run=true]
//	GET  /v1/track?id=&sender=&recipient=&since=&until=&event=&limit=
//	GET  /v1/dumpster
//	GET  /v1/dumpster/{database}?since=&limit=
//	POST /v1/dumpster/{database}/redeliver?request_id=ID&since=RFC3339 | since_ago=DURATION
//	     (DURATION as the CLI's --since reads one, dumpster.ParseAgo: 90m, 24h, 1d)
//	     (the same id and parameters again: the first outcome, "repeated",
//	     or the interrupted request finished, "resumed"; other parameters: 409)
//	POST /v1/dumpster/remove?id=QUEUEID…&database=&since=&until=&from=&to=&message_id=&org_id=
//	     [&confirm=true][&dry_run=true] (each removed copy audited)
//	GET  /v1/shadows
//	POST /v1/shadows/databases/{id}/forget (a database id met as a server's
//	     forgotten, a retired one too; 422 while a primary's record holds it; audited)
//	GET  /v1/backpressure (level, the resource that set it, every resource)
//	GET  /v1/rcptcheck?address=A[&address=B…] (what RCPT answers each, by
//	     the recipients and directory the daemon loaded, no callout made;
//	     route explain)
//	GET  /v1/mailboxdb?address=A (the mailbox database the daemon's
//	     directory assigns; 404 where no directory assigns them)
//	GET  /v1/db/backup  (the database's pages as of one read transaction;
//	                     Content-Length first; the client writes the file)
//	POST /v1/db/backup/failed?error= (the command's reason for a copy it could
//	                     not keep, a full disk: audited beside the backup's line)
//
// A dry run (dry_run=true) makes the action's own check of each message
// (queue.StateView.Refusal; for remove also the removal's own decision,
// queue.Manager.CheckRemove, which sees the body and the copy's holder)
// and changes nothing: it answers the refusal the action would, so that
// it predicts what the action does.
package admin
