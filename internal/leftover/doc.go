// Package leftover is the one list of the names umbra removes or
// renames without being asked: beside the transport database, what a
// start (queue.Open), a compaction and a restore remove as what a killed
// one left (Beside); in any directory a command writes to, the partial
// copies its sweep removes (Swept). The start's cleanup (queue) and the
// refusal of those names as a file a command writes under a name the
// operator gives (config.WriteConflict: db backup, message export, dkim
// keygen) both read this list, so the two cannot drift: db backup to
// data/.queue.db.snapshot-777 wrote a sound backup, and the next start
// removed it silently as its own snapshot (rt32c F1). So is every name
// a start removes in the data directory, also one that is no file of a
// db command: data_dir/peerwait, an older release's marker directory
// (queue: readOldMarkers), is refused with all in it (Dir), and its
// removal logged as every other leftover's; so is the db commands' side
// lock a killed restore or compaction left (rt33c F3). Started judges a
// last name against that list in any directory: any directory may be
// another umbra's data directory, whose start removes it (rt33c F1);
// so does it the names a start or a ready daemon makes afresh there
// (Made: the peer wait slot file, the run file), which queue and admin
// take from here. Swept judges a name at every
// ".partial-" in it, as the sweep of backups to a file whose own name
// holds the infix matches at a later one.
//
// It is a leaf: it imports no umbra package, so config (which imports
// none but leaves) and queue may both use it.
package leftover
