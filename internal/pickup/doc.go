// Package pickup submits messages that are dropped as files into a pickup
// directory (SPEC SR-12, scenario B), for applications that write mail
// instead of speaking SMTP.
//
// A file NAME.eml (write it under another name and rename it in, so that
// it is never read half-written) holds one RFC 5322 message. Its envelope
// comes from X-Sender and X-Receiver headers when present, otherwise from
// From and To/Cc/Bcc (a quoted local part as RCPT takes it: net/mail
// reads a header address's local part by its content, its quotes gone,
// and they are put back where it needs them, smtp.ParseContentAddress);
// those envelope headers and Bcc are removed. Bare LF
// line ends are turned into CRLF. Every line of the header section (up
// to its empty line) is a field or a continuation as the receive side
// reads them (header.FieldStart), else the file is refused: a next hop
// must not end the header section earlier than this server's readers
// (DKIM signing, trace work) do. A file of header fields alone (no
// empty line, no body) is queued with the empty line after them, as the
// receive side puts it. Sender and recipients are queued in the
// one canonical form RCPT stores (smtp.ParseRcptPath: a quoted local
// part by its content, quoted again only where it needs it, a source
// route dropped; mailaddr.Canonical: no final dot, the domain's ASCII
// case folded), so validation, the Maildir path and the
// relayed RCPT see what an SMTP client's RCPT would have given.
//
// Invariants and the crash argument:
//   - The file is renamed to NAME.<message id>.queued only after the
//     message is durable in the transport database, and deleted only once
//     ownership has passed on: no recipient is pending any more (delivered,
//     relayed to a next hop that took it — shadowed or not — or failed with
//     its DSN). Until then the file is this server's shadow of the message.
//     The file is on the database's disk, so a lost disk loses both: where
//     this server makes shadow copies the commit that queues the message
//     marks it held by this server only (Message.EntersAlone), and the
//     holders' pass copies it to a shadow server.
//   - A file is one submission. Its key (path, inode, size, modification
//     time, birth time and the SHA-256 of the content read: one drop of
//     one file — rewritten in place with content of the same size and
//     its modification time set back, it is another; a new file on the inode
//     a former drop freed, as ext4 and xfs reuse one at once, whose size
//     and modification time a tool set, is born anew; not its change time,
//     which a chmod or chown of the unmarked file changes — it stands in
//     only where the file system gives no birth time, NFS —, nor its
//     device, which a remounted network file system may change — fileKey;
//     a key an earlier release stored with device and change time is still
//     found, earlierFileKey; one stored without the content, statFileKey,
//     or without the birth time, inodeFileKey, only for a file born and
//     last changed (ctime) before it was stored: a new file on a reused
//     inode, or one rewritten in place, has it too) is
//     stored with the message
//     in the commit that queues it (queue.Manager.SubmitKeyed). A crash
//     before that commit leaves NAME.eml and nothing queued: it is
//     submitted at the next scan (never lost). A crash after the commit
//     and before the rename leaves the same file with the same key: the
//     next scan finds the key, queues nothing and marks the file with
//     the message it already made (never twice). The key is kept as long
//     as the file does, unmarked (KeyFileGone; the queue prunes a
//     pickup key after message_expiration only once this drop is gone
//     from the directory): a file whose rename to .queued fails (a
//     read-only pickup directory, a move that hangs) and lingers past
//     message_expiration is still found submitted, never sent twice —
//     and its message's recorded end is kept as long as that key
//     (pickupKeyHolds), so the file, marked once the directory takes
//     renames again, is found ended and removed, not given back.
//     Such a file is removed at the end of its wait only while it is
//     still the drop submitted: it is told by its content through an
//     open descriptor (before anything changes its times), then moved
//     aside by one rename that replaces nothing (.NAME.<id>.handed, a
//     dot-name no scan reads) and removed only if what was moved is that
//     inode with that content still (removeHanded); a new drop renamed
//     in at NAME.eml, before the move or after it, is never the one
//     removed, and one moved aside is given back to the scan (a failed
//     give-back said at ERROR). A crash after the move leaves the
//     .handed file, which the next start settles by its stored key
//     (reattachHanded; where the file system gives no birth time the
//     move changed the change time that key holds: given back, twice,
//     never lost), and KeyFileGone keeps the key while it lies there. Where the move fails (a
//     read-only directory, no space) the file is read and removed by
//     name, two steps.
//     Only the directory a watcher uses says a file is gone (dirInUse:
//     it holds the lock file, .umbra-pickup.lock): a pickup directory
//     that is a mount point stays there, empty, while its file system is
//     unmounted, and says nothing gone, so no key or end is pruned and
//     the files back at the remount are not submitted again (a server
//     started while it is unmounted makes the lock file on the mount
//     point: that pruning cannot tell).
//     A crash after the
//     rename leaves the .queued file, which the next start re-attaches
//     to its message by id — only when the database holds that id as
//     this file's message (queue.Manager.PickupFate: a pickup message
//     whose Helo is NAME.eml). A file is removed without its message
//     being waited for only when the database recorded that message's
//     end (the commit removing its record writes it, Tx.Delete; kept as
//     long as its .queued file is there, QueuedFileGone: a downtime
//     longer than message_expiration after a crash between the end and
//     the file's removal does not make the file go twice). Any other .queued file — a new
//     database (queue.db moved aside or lost, data_dir wiped), one
//     restored from an older backup, the id given since to another
//     message, a file another server marked, a record set aside as
//     damaged and given to no holder — is given back as
//     NAME.restored-<id>.eml (never NAME.eml, which the application may
//     drop anew; by one rename that replaces nothing, RENAME_NOREPLACE,
//     so a crash leaves one name, never both — where the file system
//     lacks it, a link and a removal, and a name already holding the
//     same inode, a crash between the two, only loses the .queued name)
//     and submitted again with a warning: the file is the message's only copy, so at worst
//     the message goes twice, never lost. A running server asks the
//     same question when its wait for a message ends, before it removes
//     the file: a message that left without being handed on (set aside
//     as damaged, dropped so) has its file submitted again. Two drops of the same content are two files
//     (a new inode, or a new modification time for one rewritten in
//     place): two messages, as two SMTP submissions.
//   - Identity: the Message-ID is recorded (tracking finds the message by
//     it), and the message gets a fresh organisation message id. A file
//     is not a transport server of the organisation, so every X-Umbra-
//     header in it is removed first (the header firewall, package orgid).
//   - A file that cannot be parsed or is too large is renamed NAME.bad and
//     left for the operator; so is one with a recipient RCPT refuses by
//     its address (smtp.RecipientRefusal: IP-address text for a domain,
//     an address literal, bad syntax), logged with RCPT's reply: it
//     would only fail later with a DSN.
//   - A file that fails again at every scan (the queue does not take it:
//     tried again later; a refused file that cannot be renamed .bad) is
//     logged once, not at every interval: again when the file changes,
//     when it fails otherwise, or after it succeeded (logFailure).
//   - Memory does not grow with a file's size (stream.go): a file past
//     Config.SpoolThreshold is copied, line ends normalised, into a spool
//     file of the transport database and only its header section (at
//     most Config.MaxHeaderSize with its empty line, the one Parse puts
//     after header fields alone counted as SMTP counts it, else
//     NAME.bad) is read into memory; the
//     message queued is byte for byte the one the in-memory path queues
//     (TestPickupSpooledSameAsInMemory), and the in-memory path holds a
//     file's header section to the same bound (headerOverLimit), so a
//     file's header is refused or taken whatever the size of its body
//     (TestPickupHeaderLimitInMemoryAsSpooled). The spool file is durable before
//     the commit that names it (queue.SpoolFile.Finish); a refused file
//     or a failed commit removes it, a submission seen before has it
//     removed by the queue, and a crash between the two leaves an orphan
//     that the store's next Open sweeps.
//   - At high back pressure (Config.Paused) no file is read: the files
//     wait in the directory, untouched, until the level falls.
//   - A directory is one server's (Lock, dirlock.go): the server holds
//     the directory itself locked while it runs (flock on an O_RDONLY
//     O_DIRECTORY descriptor: no removal of a file frees it) and the
//     regular file .umbra-pickup.lock in it (a directory's flock stays
//     in this host's kernel on NFS; a regular file's reaches the server's
//     lock service, so another host sharing the directory is refused
//     too), and serve refuses to start on a directory another process
//     holds. Two servers on one
//     directory would each submit the other's files, and each take the
//     other's .queued files, whose messages its database does not hold,
//     for files to submit again. The lock goes with the process (kill -9
//     too).
//   - A panic while one file is handled is recovered on the scan's
//     goroutine (no lock of the watcher's is held across a file): counted
//     (Config.Panicked), logged once a minute (panicline), the file
//     refused (.bad) as one that can never be submitted; the scan goes on.
//     One on the goroutine that waits for a .queued file's message to be
//     handed on is recovered too, counted and logged the same way: the
//     message is queued, so the file stays .queued for the next start to
//     settle (as after a crash), and is no longer busy.
package pickup
