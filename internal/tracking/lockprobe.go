package tracking

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// The lock probe (rt27e F2): the flock Open takes (owned.go) guards
// only the file at a log's own path, yet a rotation renames and deletes
// path.1 … path.max_files too — another daemon's live log when its
// tracking.path is one of those names (A at DIR/trk.1, B at DIR/trk:
// B's rotation renamed A's open file to trk.2 and later deleted it).
// So each rotation name is probed with a non-blocking shared flock
// before anything is renamed or deleted: one held by another process
// (the exclusive lock of its log) makes Open refuse the path, and a
// rotation skip (it keeps writing its file and says so once, as for a
// file that is not a tracking log). CheckPath (config check, reload)
// does not probe the rotation names: the daemon of its own
// configuration may hold path.1, its file moved aside by logrotate
// until its next event, and a flock cannot tell the two apart.
// Open and CheckPath also refuse a path that is itself a rotation name
// (X.N) of a path X another process holds locked: as far as can be
// known from here, X's rotation would rename or delete it. The probe
// takes the lock for an instant only and never on the log's own path
// (which the log itself holds); a log whose lock meets a probe's tries
// again (owned.go lock).

// heldByOther reports whether another open file description holds a
// lock on the file at name that conflicts with a shared flock: another
// daemon's tracking log. A missing or unreadable file is not held.
func heldByOther(name string) bool {
	f, err := openRegular(name)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// checkRotatedHeld refuses when a rotation name of path (path.1 …
// path.maxFiles) is held locked by another process.
func checkRotatedHeld(path string, maxFiles int) error {
	for i := 1; i <= maxFiles; i++ {
		name := fmt.Sprintf("%s.%d", path, i)
		if heldByOther(name) {
			return fmt.Errorf("tracking log %s, which the rotation of %s renames and deletes, is %w (another umbra daemon's tracking log): "+
				"give each daemon a tracking.path that is not another's rotated name", name, path, errLocked)
		}
	}
	return nil
}

// checkBaseHeld refuses a path X.N whose base X another process holds
// locked: X's rotation would rename or delete the file at path.
func checkBaseHeld(path string) error {
	i := strings.LastIndexByte(path, '.')
	if i <= 0 || i == len(path)-1 {
		return nil
	}
	if n, err := strconv.Atoi(path[i+1:]); err != nil || n < 1 || strings.Trim(path[i+1:], "0123456789") != "" {
		return nil
	}
	base := path[:i]
	if heldByOther(base) {
		return fmt.Errorf("tracking log %s is a rotated name of %s, which is %w (another umbra daemon's tracking log, whose rotation renames and deletes %s): "+
			"give each daemon a tracking.path that is not another's rotated name", path, base, errLocked, path)
	}
	return nil
}

// checkHeld is both probes, for Open and CheckPath.
func checkHeld(path string, maxFiles int) error {
	if err := checkBaseHeld(path); err != nil {
		return err
	}
	return checkRotatedHeld(path, maxFiles)
}
