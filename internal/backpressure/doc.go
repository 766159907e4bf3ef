// Package backpressure is umbra's resource monitor: it samples the free disk space of the data
// directory, the data in the transport database, the process's memory, the
// submission and total queue lengths and the open SMTP sessions, and
// gives each a level — normal, medium, high — with hysteresis.
//
// Invariants:
//   - A resource rises to a level when its value reaches that level's
//     watermark and falls only below the next lower one (high to medium
//     below Medium, medium to normal below Normal): a value hovering at a
//     mark does not flap.
//   - disk_used_percent counts the free pages of the transport database
//     (queue.db) as free space when the database is on the data
//     directory's filesystem: umbra reuses them before it grows the file,
//     and a backlog that drained leaves them behind until a compaction.
//     Counted as used, they would hold the level up with nothing queued,
//     and only accepted mail — the traffic the level refuses — would
//     reuse them. No level may latch like that: every watched value is
//     lowered by what umbra does without new mail (delivery, expiry,
//     removal of spool files, which frees their space at once).
//   - The server's level is the highest of any resource; State names the
//     first resource at that level. A resource that cannot be read keeps
//     its level (an unreadable disk is no reason to accept more mail).
//   - State is a snapshot swapped atomically: the SMTP server reads it on
//     every MAIL without locking; only Check writes it.
//   - What a level does is decided by its users: MAIL (package smtp)
//     refuses anonymous senders at medium and everyone at high with
//     452 4.3.1, and slows the rest at medium; the pickup directory
//     holds its files at high; delivery, shadow discard
//     traffic and the operator's commands never stop.
//   - Every change of the server's level is logged with the resource and
//     its value; the level of the server and of each resource, and each
//     sampled value, are metrics (umbra_back_pressure_*).
//   - Checks run on a ticker (the monotonic clock): a step of the wall
//     clock neither fires nor delays them.
package backpressure
