// Package tracking writes umbra's message tracking log: one JSON line per
// message event (receive, send, deliver, defer, fail, dsn, poison,
// remove, discard — also of a message an edge check discarded at
// receipt, which is answered 250 but never stored —, and the shadow and
// dumpster events as they come), searchable
// by umbra id, Message-ID, organisation message id (SR-14: the same on
// every server the message passed), sender or recipient. A DSN's "dsn"
// event names the message it reports on too (original,
// original_message_id), so a search for that message shows its DSN.
//
// Invariants:
//   - A line holds envelope data, next hop and reply only: never a message
//     body or a credential.
//   - A line follows the commit: the queue raises an event only after
//     the transport database's commit of the change it reports returned
//     (an attempt's results, a receipt, a removal, a move to poison, a
//     discard), so the log never says something happened that the
//     database does not hold. A crash between the commit and the write
//     loses those lines — the log may miss what the database holds, never
//     the other way round — and a commit that fails writes none (the
//     attempt is repeated and raises its own). An attempt's lines come
//     with its commit, which transport.result_commit_delay may defer
//     (an operator's request through the admin API commits it first).
//   - Each event is one write(2) of one line, so a crash loses at most the
//     line being written and never interleaves two lines. The results of
//     one delivery attempt (a line per recipient) come as a batch
//     (Batch, queue.EventBatcher): the queue keeps the attempt's events
//     until its results are committed and then gives them to one batch,
//     whose lines are written with one write(2) of whole lines when it
//     ends; a crash loses at most the lines of the batch being written.
//     The torn line it leaves (no newline at the end of the file) is
//     ended when the log is opened again, and a write cut short (a full
//     disk) is ended before the next: the next event starts its own
//     line instead of being written onto the torn one and lost with it.
//   - The log touches only files of its own (owned.go): Open, and
//     CheckPath for config check and reload, refuse a path whose file or
//     rotated file (.1 … .MaxFiles) exists and is not a tracking log (not
//     empty and not umbra's lines; a first line shorter than {"time":"
//     counts only as a torn one: a prefix of it followed by a whole
//     tracking line, another such prefix or the end of the 4 KiB read,
//     so a pretty-printed JSON file's "{" line does not; a bbolt file is
//     named as one), before
//     anything is written to it; Open holds an exclusive flock on the file
//     it writes, so a second daemon given the same path is refused; a
//     rotation renames and deletes only when the file at the path is the
//     one it holds (device and inode) and every rotated file is a
//     tracking log, and the age bound deletes only tracking logs. No
//     rotated name another process holds locked (another daemon's live
//     log) is renamed or deleted: probed with a non-blocking flock, it
//     makes Open and CheckPath refuse the path and a rotation skip
//     (lockprobe.go); so does a path X.N whose base X is held.
//   - The path is the log's file itself: it is opened with O_NOFOLLOW,
//     so a symbolic link there (dangling or not, planted after the
//     configuration was checked) is never followed — nothing is created
//     or written through it — and Open, Reopen and CheckPath refuse it
//     naming the link and its target (linkRefused). Search (umbra
//     track) reads each file by the same rule (openNoFollow): a link at
//     the path is skipped with that refusal, one at a rotated name with
//     its own reason (rotatedLinkSkipped: track follows no link; it
//     names the file the link leads to, to be read directly — the
//     tracking.path advice would be false there), never read. The daemon's own checks of the rotated names (Open,
//     CheckPath, a rotation: openRegular) follow a link at
//     tracking.log.N and judge the file it leads to: a rotation renames
//     and deletes the name, never writes through it, so such a link
//     refuses no start, reload or rotation.
//   - The file rotates by size: tracking.log becomes tracking.log.1, .1
//     becomes .2, … and the oldest beyond MaxFiles is deleted. Search reads
//     the rotated files oldest first, then the current one.
//   - A rotation from outside (logrotate) is followed: every write first
//     checks that the file it holds is still the one at the path (one
//     stat(2) of the path, compared with the device and inode the held
//     file had when it was opened), and
//     opens the path again when it was renamed or removed, so no signal
//     is needed (deploy/umbra.logrotate sends none); Reopen (SIGHUP) does
//     so at once, but SIGHUP is the daemon's full configuration reload,
//     no reopen of its own (reopen.go).
//   - With an age bound (SetMaxAge, tracking.max_age) the file also
//     rotates once its first line is a day old, and a rotated file whose
//     last write is older than the bound is deleted (at each rotation, at
//     SetMaxAge and hourly): no line outlives the bound by more than a day.
//     A panic of the hourly pruning (a defect) is recovered on its
//     goroutine, counted (umbra_tracking_log_prune_panics_total) and
//     logged; the log goes on and the next hour tries again.
//   - Lines are JSON without HTML escaping: <id@host> is written as it is,
//     so that grep finds it. What a terminal would act on (C1 controls,
//     DEL, bidirectional and zero-width format characters) is escaped
//     as jsonsafe.Escape does for the admin API and the daemon's log
//     (\u009b): the line decodes to the same values. A byte that is not
//     UTF-8 (a next hop's reply in Latin-1) is written as the text \xNN
//     (jsonsafe.TextBytes, "\\xe9" in the line), as the admin API
//     answers and the CLI shows it: JSON cannot hold the byte, and the
//     U+FFFD encoding/json writes would hide which byte it was. A run
//     of literal backslashes before what reads as such an escape is
//     written doubled, so the text \xe9 a sender wrote (\\xe9) and the
//     byte (\xe9) read apart. Lines written before hold U+FFFD in its
//     place and read as they are. Search reads a raw byte in a line it
//     did not write as \xNN and counts lines that are no event. The line is built
//     by hand (encode.go), byte for byte what encoding/json writes for
//     an Entry with jsonsafe.TextBytes and jsonsafe.Escape applied
//     (FuzzAppendEntry);
//     what it cannot write (a time outside years 0–9999, a delay that is
//     not a number) goes through encoding/json.
//   - Search (the function) only reads the files: `umbra track` uses it
//     without the daemon, bounded by time and event. A file it cannot
//     read (not a regular file, no permission, a read error part way) is
//     skipped, never waited on: the others answer, with a *Partial error
//     naming each skipped file (track exits 5; the admin API answers and
//     names them in the X-Umbra-Track-Skipped header and the log); a
//     directory this user may not search is one Skipped (Dir), not one
//     per rotation name.
//   - Operator actions are the event "admin", with the action and the
//     actor (the admin socket peer's uid); a removal's own "remove" line
//     keeps the envelope (sender, recipients, Message-ID, org id).
//   - Events lost to failed writes leave a gap line (event "lost": from
//     when, to when, how many), written after the first write that goes
//     through (gap.go); a search returns every gap its period overlaps,
//     whatever else it asks, so an answer over a gap is never taken for
//     "nothing happened" (track exits 5). A log closed with its gap
//     line not written keeps it in <path>.gap for the next Open, whose
//     first write that goes through writes it (gap.go); a gap line
//     rotates the file as any line does.
package tracking
