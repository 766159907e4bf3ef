package queue

import (
	"context"
	"testing"
	"time"
)

// db restore's list of the messages the backup lacks named when each
// arrived from the record's Arrived: a message resumed from a hold was
// listed as arrived at its resume, not when it was received (ops48 F1's
// receipt, kept in bucket received, which the restore's own reading of
// the live database never read).
func TestLostByRestoreNamesTheKeptReceipt(t *testing.T) {
	r := newRestoreLossRig(t)
	received := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := r.submit(t, "x@b.example", "", func(m *Message) { m.Arrived = received })
	if err := r.s.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.resumedFromHold(received.Add(time.Minute), true, received.Add(3*time.Hour), 0)
		return tx.Put(got)
	}); err != nil {
		t.Fatal(err)
	}
	r.s.Close()
	lost, known, err := LostByRestore(r.backup, r.path)
	if err != nil || !known || len(lost) != 1 {
		t.Fatalf("LostByRestore: %d listed, known %v, %v; want the one message", len(lost), known, err)
	}
	if !lost[0].Arrived.Equal(received) {
		t.Fatalf("the message resumed since is listed as arrived %v, want %v as received", lost[0].Arrived, received)
	}
}

// The sibling in the list of messages the backup holds and the
// replaced database finished since (restored suspended): it named the
// backup's record's clock, moved by a resume before the backup.
func TestRestoreGoneNamesTheKeptReceipt(t *testing.T) {
	path, s := dataDirStore(t)
	m := putReady(t, s, []byte(body))
	received := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	change(t, s, func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.Arrived = received
		got.resumedFromHold(received.Add(time.Minute), true, received.Add(3*time.Hour), 0)
		return tx.Put(got)
	})
	backup := backupTo(t, s, BackupOptions{})
	change(t, s, func(tx *Tx) error { return tx.Delete(m.ID) })
	s.Close()
	r := restoreAsCLI(t, backup, path)
	if len(r.gone) != 1 {
		t.Fatalf("restore listed %v as restored suspended, want %s", r.gone, m.ID)
	}
	if !r.gone[0].Arrived.Equal(received) {
		t.Fatalf("the message resumed before the backup is listed as arrived %v, want %v as received", r.gone[0].Arrived, received)
	}
}
