package queue

import (
	"os"
	"testing"
	"time"
)

// rt45 F2's comparison assumed the replaced database is the one the
// backup was taken of (or its heir). The disaster a restore is for: the
// disk lost, umbra started on a new one (a new, empty database), then
// the backup restored over it. That database never held the backup's
// messages, so every one of them was "no longer in the replaced
// database (delivered … after the backup)": all restored suspended,
// none delivered until the operator resumed each, the listing false.
// A database created after the backup was taken finished none of them.
func TestQ4RestoreOverDatabaseNewerThanBackupSuspendsNothing(t *testing.T) {
	path, s := dataDirStore(t)
	m := putReady(t, s, []byte(body))
	backup := backupTo(t, s, BackupOptions{})
	s.Close()
	time.Sleep(1100 * time.Millisecond) // created is kept to the second
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path, Options{}) // the new disk's database
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	var gone []GoneSinceBackup
	if _, err := RestoreWith(backup, path, RestoreOptions{Gone: func(g []GoneSinceBackup) { gone = g }}); err != nil {
		t.Fatal(err)
	}
	if len(gone) != 0 {
		t.Errorf("restored over a database made after the backup, %v listed as finished since the backup and suspended", gone)
	}
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got *Message
	if err := r.View(func(tx *Tx) error { got, err = tx.Get(m.ID); return err }); err != nil {
		t.Fatal(err)
	}
	if got.State != Ready {
		t.Errorf("message %s restored %v, want ready: the database replaced never held it", m.ID, got.State)
	}
}
