// Package queue is umbra's transport database and queue manager.
//
// Store is the only code that opens bbolt and owns transaction boundaries;
// Manager is the only scheduler. Delivery code (package delivery) only
// reports per-recipient results; it never touches the store.
//
// # On-disk schema
//
// One bbolt file, queue.db, in the data directory. The buckets and key
// layouts are listed in schema.go; records are encoded in record.go (a
// version byte, then varints and length-prefixed strings; the decoder
// rejects every malformed input and is fuzzed). Message ids are
// microsecond timestamps made unique by NewID, big-endian, so cursor order
// is arrival order. The database id (meta/db_id) is random and made with
// the file: a server with a new id has lost its queue.
//
// # States
//
//	Submit ──▶ Active (room in the active set) ─┐
//	       └─▶ Ready (schedule entry) ──claim──▶ Active ──results──▶ deleted (all recipients done)
//	                       ▲                      │                └▶ Ready at now+backoff (some pending)
//	                       └──────────────────────┘ requeue (shutdown)
//	Active at start-up ──Recover──▶ Ready (crash count < threshold) or Poison
//	delivery panic ──▶ Poison        operator ──▶ Suspended (no schedule entry)
//	results with shadowed recipients and nothing pending ──▶ Shadow
//	Shadow ──discards from every primary──▶ deleted
//	Shadow ──Takeover (primary failed or has a new database)──▶ Ready (recipients pending again)
//
// Every new message (Submit, DSNs, resubmissions) is written by
// Tx.PutNew, which refuses one without recipients (ErrNoRecipients): it
// could never be delivered, only wait for expiry.
//
// Index invariants, kept by Tx.Put/Tx.Delete in the same transaction as
// the record: a message has a schedule entry iff it is Ready (keyed by its
// NextAttempt), an active entry iff it is Active, and one queues entry per
// queue of QueuesOf(m) — the per-next-hop queues: "submission" before the
// first attempt, then the queue delivery reported for each pending
// recipient ("mx:example.org", "smarthost:to-edge", "mailbox:DB01",
// "unreachable"), or "poison". Queue statistics are read from the index
// keys alone. The scheduler reads
// only the schedule's due prefix and the active index, so memory and work
// are bounded by the active set (MaxActive), never by the queue size; no
// goroutine exists per queued message, only per active one.
//
// # Shadow redundancy in the store
//
// As primary: a message received in a shadow session carries its shadow
// server and shadow id; the commit that makes it done (removal, or the
// Shadow state when it was itself relayed in a shadow session) also
// writes the discard notification for that server (bucket discards). The
// notification is deleted only after the reply carrying it was written,
// so a crash in between sends it twice — harmless, a shadow server
// ignores ids it no longer has — never zero times.
//
// As shadow server: recipients a primary accepted in a shadow session
// are Shadowed (with primary, address and shadow id) and the message
// keeps its record and body until every primary discarded its part.
// A discard arriving while the message is still Active (its results not
// yet committed) is stored in bucket early and consumed by the commit of
// those results. Takeover turns the shadowed recipients back to Pending
// in one transaction; they stay listed in the primary's shadow queue
// (shadow:PRIMARY, now pending) until an attempt hands them on (SR-6).
// A crash at any point leaves either the copy (and a later discard or
// takeover) or its deletion: never a lost message, at worst a
// duplicate, which final delivery suppresses (SR-11).
// Stale discards and early discards are pruned after message_expiration.
//
// # Final delivery: duplicate record and dumpster
//
// Before writing into a mailbox database the deliverer claims (database,
// Message-ID, recipient) with ClaimFinal: a record in bucket delivered
// makes it a Duplicate (reported DeliveredOK with Duplicate set, not
// written again); a claim held by another message in flight makes it
// Busy (deferred). The commit of an attempt's results writes the record
// of each fresh final delivery and, through ManagerConfig.Dumpster
// (package dumpster), the database's dumpster copy — one transaction with
// the recipient's Delivered state. Claims are released only after that
// commit, so two copies of one message can never both pass the check. A
// crash between a mailbox write and this commit repeats the delivery
// (at-least-once); the Maildir store absorbs the repeat by its
// deterministic file name. A redelivery request (package dumpster) first
// clears a database's records of its window, then moves each dumpster
// copy to the messages bucket in the commit that deletes it from the
// dumpster: the copy is in exactly one of the two at any time.
//
// # Durability and the crash argument
//
// Every write goes through Store.Update, whose commit loop folds the
// writers that are waiting into one bbolt transaction and returns to each
// only after Commit (write + fdatasync of data and meta pages) returned.
//
//  1. A message is acknowledged (250) only after Submit returned nil, i.e.
//     after the transaction holding its record, body and index entry is on
//     disk. A crash before that loses only a message the client still owns:
//     it saw no 250 and retries.
//  2. bbolt commits are atomic: after a crash the file holds either the old
//     or the new tree, never a mix, so record, body and index entries always
//     agree.
//  3. A claimed message is Active in the database before delivery starts.
//     A crash during delivery leaves it Active; Recover makes it Ready again
//     (at-least-once: a next hop that had already accepted it may get it
//     twice) and counts the crash. Only PoisonThreshold crashes in a row
//     while in flight move it to the poison queue, where it stays for the
//     operator; it is never dropped.
//  4. Results, the message's removal and the DSNs they cause are one
//     transaction. A crash before it commits repeats the attempt (a
//     duplicate, never a loss); after it, the DSNs are as durable as the
//     message they replace.
//  5. If that transaction fails (disk full), the message stays Active and
//     is retried after restart, by point 3.
//
// Group commit: a writer's function may run twice (once in a shared
// transaction that another writer's error aborted, once alone), so it must
// have no effect outside the transaction. UnsafeNoSync exists for tests
// that measure something other than durability.
package queue
