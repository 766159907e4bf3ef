// Package dumpster is the transport dumpster (SPEC §4): after a message
// is delivered into a mailbox database, a copy stays here so that a
// mailbox database that fails over to a copy lagging behind can get back
// what it lost.
//
// The copies live in the transport database (package queue owns the
// buckets, schema.go lists them); this package owns the policy.
//
// Invariants:
//
//   - A copy is written by Keep inside the transaction that commits the
//     final delivery, so a delivery the queue counts as done always has
//     its copy (unless the dumpster is off, or the message alone is bigger
//     than the database's bound, which is logged and counted as too_big).
//     A delivery whose commit was lost (a kill -9 after the mailbox
//     write, a full disk) lost its copy with it; its repeat, which finds
//     the message in the mailbox already (a suppressed duplicate), keeps
//     the copy instead (package queue marks such messages): a copy is
//     kept for every acknowledged message in a mailbox, not only for the
//     attempt that wrote it. The same holds across servers: the delivery
//     of a copy taken over from a primary, and of one the server that
//     took it over handed on to another hub of a shared store (marked
//     MayRepeat there, carried by orgid.RepeatHeader), keeps the copy it
//     finds — the primary, back, drops its original as finished
//     elsewhere and keeps none. A hub of an older release keeps nothing
//     there (it ignores the mark).
//   - A message is one copy in a database's dumpster, its body and size
//     counted once: recipients delivered into the database after the
//     copy was kept (by another part of the same commit — a redelivery
//     with mixed outcomes, one recipient found in the mailbox, another
//     delivered again — or by a later commit) are added to that copy's
//     record (earlierCopy, Tx.DumpsterRecipients), which keeps its key
//     (its keep time) and body. The search for a copy of an earlier
//     commit reads keys only, and runs only when another recipient of the
//     message is delivered already; where no delivered record leads to the
//     copy (no org id, a record a redelivery request cleared) it reads the
//     keys kept since the message got its queue id, at most
//     earlierCopyScan (4096) of them: past them the copy is not found and
//     the new recipients get a copy of their own (the body counted twice,
//     each recipient in one copy, so a redelivery still delivers each once).
//   - Each database holds at most max_dumpster_size_per_database bytes of
//     copies: Keep evicts the oldest in the same commit (up to 64); when
//     more must go it wakes Run, which evicts the rest by size at once,
//     in commits of pruneBatch, so a keep leaves its database over the
//     bound only until the commits right after its own, never until the
//     next prune; a reload that lowers the bound wakes it too. Nothing is
//     kept past max_dumpster_time for longer than a prune's commit: Run
//     prunes every PruneInterval (a minute) or, sooner, when the oldest
//     copy reaches that age (nextPrune); a prune whose commit failed (a
//     full disk) is tried again after PruneInterval, not at once (the
//     copies it left are still due). Eviction order is key order,
//     which is keep time: oldest first.
//   - No transaction touches more than a few hundred entries (pruneBatch,
//     resubmitBatch, clearBatch), so the group commit never stalls behind
//     the dumpster.
//   - Redelivery (Redeliver) of database DB since T covers copies kept in
//     [T, start of the request]. It first forgets DB's duplicate records
//     of that window (SR-11) — the mailbox lost those messages, so each
//     must be delivered once more — then moves each copy back to the queue
//     in one commit with its removal from the dumpster: a crash leaves the
//     copy either in the dumpster or in the queue, never in both or
//     neither. The request is stored under its id before any step. A
//     request's parameters are its database and its window's start; a
//     call with the same id and the same parameters is the same request:
//     done, it returns the stored result without acting again
//     (Repeated); interrupted, it is finished (Resumed), as it is at start
//     (Run). A window given as a duration (RedeliverAgo) is measured back
//     from the stored request's start, so a retry with the same duration
//     names the same window however late it comes; the CLI's --since and
//     the admin API's since_ago read that duration by one rule (ParseAgo:
//     whole days a unit too; past 292 years the longest, every copy), and
//     a time given as such by one rule too (ParseTime: RFC 3339 §5.6, "t"
//     and "z" in either case, offsets up to ±23:59 and nothing else). A
//     window's start is
//     what the record holds (queue.StoredTime, window.at): one before
//     1970, before any copy, is the zero time — every copy — for List,
//     Remove and Redeliver alike, never a time the record cannot hold
//     (a record refused at decoding, or wrapped into the future). The same id with
//     other parameters is refused (ErrRequestConflict) naming both, and
//     changes nothing.
//   - The request record is read by the previous release (queue package:
//     version-1 layout, the skipped count in an extension record), so a
//     rolled-back binary still recognises every request id.
//   - A request whose stored record does not decode (queue
//     ErrDamagedRequest) is set aside: kept as stored, named by
//     DamagedRequests (the gauge umbra_dumpster_damaged_requests), logged
//     at each start (Run), never resumed — how far it got is not known —
//     and its id is refused; it holds up no other request (Requests
//     leaves it out).
//   - Remove deletes the copies a Selection names (ids, or a database
//     with a filter; never an empty selection), at most resubmitBatch per
//     commit, each with its body and spool file reference, and counts
//     them as evictions "removed". It takes the request lock, so no
//     redelivery request sees half a removal. Audit is the admin API's.
//     Run's evictions (by size, by age: evictSize, Prune) take it too:
//     evicting between two commits of a request took the copies of its
//     window it was to resubmit next. Keep's own eviction, inside the
//     queue's commit of a delivery, does not (it cannot wait there).
//   - A resubmitted message is on this server's disk alone (no shadow
//     server holds a copy of it): where this server makes shadow copies,
//     the commit that moves it to the queue marks it held by this server
//     only (queue.Tx.MarkEnteredSingle), so the holders' pass copies it
//     to a shadow server and the views name it until then.
//   - A resubmitted copy whose recipients fail (refused for good, or
//     expired) is kept in the dumpster again for them, in the request's
//     database, by the commit that fails them (queue keepback.go): a
//     crash leaves it pending in the queue or failed with its copy kept,
//     never neither, so the mail a request was to bring back is never
//     lost by an attempt that came too early — unless the dumpster keeps
//     no copy of its size any more (turned off, or its bound lowered
//     under it: KeepAgain says so, and the queue logs the mail gone).
//   - The resubmitted message is delivered like any other: final delivery
//     claims (database, Message-ID, recipient) and checks the record, so
//     a copy that reached the mailbox again by another path (a shadow
//     takeover) is suppressed, not delivered twice. Its queue mark names
//     the request (queue Tx.MarkRedelivery, Request.Scan), so the
//     Maildir writer also finds a copy a reader renamed by the org id in
//     its header, one scan of a mailbox per request (package mailbox,
//     CheckHeaders).
package dumpster
