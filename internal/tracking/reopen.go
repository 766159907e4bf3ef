package tracking

import (
	"errors"
	"os"
	"syscall"
)

// Outside rotation (logrotate): the file at the configured path is
// renamed (and a new one created, or not; the renamed one perhaps
// compressed and removed). The log follows it: Reopen (at a SIGHUP, which
// is the daemon's full reload — the shipped logrotate file sends no
// postrotate signal) closes the file it writes and opens the path again, and
// every write first checks that the file it holds is still the one at
// the path (a rename with no SIGHUP), so that no event goes to the moved
// file, or to a removed one.

// Reopen closes the file the log writes and opens the configured path
// again (created when missing).
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reopenLocked()
}

func (l *Log) reopenLocked() error {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if err := l.open(); err != nil {
		l.report(err)
		return err
	}
	return nil
}

// moved reports whether the file the log holds is no longer the one at
// its path (renamed or removed from outside). Called with l.mu held.
// It runs before every write, so it asks the kernel one question, the
// path's (stat(2)), and compares the answer with the held file's device
// and inode, taken when it was opened: an open file's identity never
// changes, so an fstat of it at every write would only repeat it.
func (l *Log) moved() bool {
	if l.f == nil || !l.held.ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(l.path, &st); err != nil {
		return errors.Is(err, syscall.ENOENT)
	}
	return uint64(st.Dev) != l.held.dev || uint64(st.Ino) != l.held.ino
}

// fileID is a file's identity (os.SameFile's: device and inode).
type fileID struct {
	dev, ino uint64
	ok       bool // known: false leaves the file unchecked, as a failed fstat did
}

func fileIDOf(fi os.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), ok: true}
}
