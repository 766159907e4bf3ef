package queue

import (
	"testing"
)

// OPS-3 (reread of ops25, F3): a count that could not read the database
// only because another process held its lock (the daemon still stopping,
// a db command) was given to Lost as "not known" when that holder let go
// without a commit (the state compared unchanged), and the restore
// replaced a readable database holding a message the backup lacks — db
// restore went on without --discard-newer. The count is made again under
// the restore's lock, and finds the message.
func TestRestoreCountsAgainAfterALockedCount(t *testing.T) {
	backup, path := restoreFixture(t, t.TempDir())
	st, err := Open(path, Options{}) // the daemon, stopping: holds the lock
	if err != nil {
		t.Fatal(err)
	}
	defer func() { restoreStep = nil }()
	restoreStep = func(point string) {
		if point == "counted" && st != nil {
			st.Close() // it exits, with no further commit
			st = nil
		}
	}
	var got []NotInBackup
	var known, called bool
	_, err = RestoreWith(backup, path, RestoreOptions{Lost: func(lost []NotInBackup, k bool) error {
		got, known, called = lost, k, true
		if len(lost) > 0 {
			return errCountRefused
		}
		return nil
	}})
	if err == errCountRefused {
		return // counted under the lock: refused, as it must be
	}
	t.Errorf("restore went on (err %v): Lost called %v with %d messages, known %v; the database held after@example.org, "+
		"not in the backup, readable once its holder let go", err, called, len(got), known)
}

var errCountRefused = countRefusal("refused: messages left behind")

type countRefusal string

func (e countRefusal) Error() string { return string(e) }
