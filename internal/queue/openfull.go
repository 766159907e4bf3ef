package queue

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// A start on a full disk (rt51 F13). Opening a new database writes its
// first pages; on a full disk that write fails with ENOSPC, which is not
// damage: the refusal says the disk is full, and the file the open made
// (or found empty: nothing was in it) is removed, so no 0-byte queue.db
// is left for the next start to read, and the start once space returns
// makes the database as if this one had never run.

// isNoSpace says whether err is the filesystem's lack of room (or the
// quota's).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// holdsNothing says whether the database file at path is absent or
// empty: an open that fails leaves nothing of value in it.
func holdsNothing(path string) bool {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	return err == nil && fi.Mode().IsRegular() && fi.Size() == 0
}

// refuseNoSpace is the refusal of an open that failed for want of room;
// fresh: the file held nothing before it, and is removed.
func refuseNoSpace(path string, fresh bool, err error) error {
	what := "nothing in it was changed"
	if fresh {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			what = fmt.Sprintf("the empty file it began could not be removed (%v): remove it before the next start", rerr)
		} else {
			what = "no database file was left behind"
		}
	}
	return fmt.Errorf("no space left for the transport database %s (%w); %s: free space on its filesystem and start again", path, err, what)
}
