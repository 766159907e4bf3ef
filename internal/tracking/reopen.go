package tracking

import (
	"os"
)

// Outside rotation (logrotate): the file at the configured path is
// renamed (and a new one created, or not; the renamed one perhaps
// compressed and removed). The log follows it: Reopen (SIGHUP, the usual
// postrotate) closes the file it writes and opens the path again, and
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
func (l *Log) moved() bool {
	if l.f == nil {
		return false
	}
	held, err := l.f.Stat()
	if err != nil {
		return false
	}
	at, err := os.Stat(l.path)
	if err != nil {
		return os.IsNotExist(err)
	}
	return !os.SameFile(held, at)
}
