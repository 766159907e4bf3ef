// Package mailbox delivers into a local Maildir store.
//
// Invariant: a message appears in new/ complete or not at all. It is
// written to tmp/, fsync'd, renamed into new/, and new/ is fsync'd before
// Deliver returns nil; only then does the queue count the recipient as
// delivered. A crash in between leaves at most a stray file in tmp/ and a
// redelivery (at-least-once), never a partial message in new/.
package mailbox
