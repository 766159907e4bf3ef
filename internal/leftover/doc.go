// Package leftover is the one list of the names umbra removes or
// renames without being asked: beside the transport database, what a
// start (queue.Open), a compaction and a restore remove as what a killed
// one left (Beside); in any directory a command writes to, the partial
// copies its sweep removes (Swept). The start's cleanup (queue) and the
// refusal of those names as a file a command writes under a name the
// operator gives (config.WriteConflict: db backup, message export, dkim
// keygen) both read this list, so the two cannot drift: db backup to
// data/.queue.db.snapshot-777 wrote a sound backup, and the next start
// removed it silently as its own snapshot (rt32c F1).
//
// It is a leaf: it imports no umbra package, so config (which imports
// none but leaves) and queue may both use it.
package leftover
