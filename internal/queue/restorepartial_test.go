package queue

import (
	"context"
	"testing"
	"time"
)

// rt45 F2's sibling: a message the backup holds with two recipients to
// deliver, of which the replaced database delivered one after the
// backup and still holds the message for the other. The restore
// compared the databases by message id alone: the message is "live",
// so it came back ready with both recipients pending, and the one
// delivered since the backup got it twice. Such a message is finished
// in part in the replaced database: it comes back suspended and listed,
// as one finished in whole does.
func TestQ4RestoreSuspendsMailDeliveredInPartSinceBackup(t *testing.T) {
	path, s := dataDirStore(t)
	m := msg(s, "a@example.org", "one@example.test", "two@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	backup := backupTo(t, s, BackupOptions{})
	// After the backup: the first recipient delivered, the second not.
	if err := s.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.Rcpts[0].Status = Delivered
		return tx.Put(got)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var gone []GoneSinceBackup
	if _, err := RestoreWith(backup, path, RestoreOptions{Gone: func(g []GoneSinceBackup) { gone = g }}); err != nil {
		t.Fatal(err)
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
	if got.State != Suspended && got.Rcpts[0].Status == Pending {
		t.Fatalf("restored %v with %s pending again: delivered after the backup, it would get the message twice", got.State, got.Rcpts[0].Addr)
	}
	if len(gone) != 1 || gone[0].ID != m.ID {
		t.Errorf("the restore listed %v as restored suspended, want %s", gone, m.ID)
	}
}
