package queue

import (
	"errors"
	"os"
	"path/filepath"
	"time"
)

// An empty queue.db (lifert39 F1). bbolt makes a new database of an
// empty file it opens, so a queue.db emptied while umbra was stopped (a
// filesystem's crash, an operator's `: > queue.db`) would start as a new
// database, its mail gone without a word. It is a truncated database
// when the data directory shows one was there, and refused as damaged.
//
// The sign is the spool directory beside it. umbra's own creation of a
// database goes: the file made empty (openDBFile, O_EXCL), locked,
// bbolt's first pages written and fdatasync'd (bolt.Open), and only
// then spool/ made and the directory synced (openSpoolDir). A crash
// during a very first creation can leave an empty queue.db, but never
// with spool/ beside it: so an empty file with spool/ beside it was
// emptied from outside. One without spool/ is the remains of a first
// creation, or a file an operator made empty in a directory umbra never
// ran in: made a database, as a first start does.
//
// Only a file the open found is judged so: when queue.db is missing,
// the open makes it empty itself (a new database: the spool files
// beside it are a gone database's, moved aside: spoolref.go). A file
// found is judged by its size under the lock, not before it: one
// emptied while the start waited for the lock (a stopping daemon's) was
// not empty when first looked at, and bbolt made a new database in it
// (rrlife39 F1).
//
// A side lock (queue.db.cmdlock) that a killed process left, found by
// the open, says who may have made the empty file: a db restore killed
// while it held the empty queue.db it makes where there was no database
// (lifecycle.go), or a start killed between making the file and writing
// its first pages (both make the side lock, or write their words in it,
// first). Such an empty file is that process's, made a database as
// before — when it is not older than the side lock. An older one was
// empty before the killed process began: a database emptied while umbra
// was stopped, and then a db command killed before it made anything (a
// restore killed while it checked the backup) — still refused (rrlife39
// F2: any side lock of a killed process had a database made in it).
//
// What this still refuses that lost nothing: queue.db removed by the
// operator (a new database made on purpose), a power loss in the instant
// between the new file's creation and its first pages, and the side
// lock's name lost with it while the empty file's was kept (neither is
// synced to the directory yet). The refusal says to move it aside,
// which starts the new database again.

// errEmptyTruncated is an empty queue.db beside a spool directory.
var errEmptyTruncated = errors.New("the file is empty (0 bytes), and the spool directory beside it shows a database was " +
	"there: it was truncated (a crash of its filesystem, or a write over it); umbra makes no new database in its place " +
	"on its own, which would lose the mail it held without a word")

// emptyTruncated says whether the database file at path, locked as
// locked, is an empty file emptied from outside: found before the lock
// (found, empty then or not; the same file locked, not one made or
// swapped in since), empty under it, spool/ beside it, and not one a
// killed process that left its side lock at killedAt made (madeAfter).
func emptyTruncated(path string, found, locked os.FileInfo, killedAt time.Time) bool {
	return found != nil && locked.Size() == 0 && os.SameFile(found, locked) && !madeAfter(locked, killedAt) && heldADatabase(path)
}

// madeAfter says whether the empty file locked may be the one a killed
// process made: a side lock it left was found (killedAt, its time), and
// the file is not older than it.
func madeAfter(locked os.FileInfo, killedAt time.Time) bool {
	return madeAfterTime(locked.ModTime(), killedAt)
}

// madeAfterTime is madeAfter of a file last written at mtime.
func madeAfterTime(mtime, killedAt time.Time) bool {
	return !killedAt.IsZero() && !mtime.Before(killedAt)
}

// heldADatabase says whether the data directory of the database file
// at path shows it held a database: a spool directory (or anything at
// its name) beside it.
func heldADatabase(path string) bool {
	_, err := os.Lstat(filepath.Join(filepath.Dir(path), spoolDirName))
	return err == nil
}
