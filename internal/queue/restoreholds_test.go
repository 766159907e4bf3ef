package queue

import (
	"context"
	"slices"
	"testing"
)

// rt47 F1 and F3: the restore compared the backup with the replaced
// database by message id and finished recipients alone. A message the
// replaced database holds suspended — by an earlier restore of the same
// backup (restored suspended, or recorded to be, before its start), or
// by the operator after the backup (message suspend) — was "still to
// deliver" there, so the backup's copy came back ready and went: a
// second restore of a backup sent again every message the first one
// had kept from going again, and a restore undid the operator's holds.
// A queue the operator suspended after the backup came back resumed.
// Each combination of what the replaced database holds and what the
// backup holds, restored as db restore does (restoreAsCLI).

// restored is what a restore run as db restore runs it reported.
type restored struct {
	gone   []GoneSinceBackup // restored suspended: finished, or restored suspended, there
	held   []GoneSinceBackup // kept suspended: suspended by the operator there
	queues []string          // kept suspended: queues suspended there
}

func (r restored) goneIDs() (ids []ID) {
	for _, g := range r.gone {
		ids = append(ids, g.ID)
	}
	return ids
}

func (r restored) heldIDs() (ids []ID) {
	for _, g := range r.held {
		ids = append(ids, g.ID)
	}
	return ids
}

// restoreAsCLI restores backup over path with the options db restore
// gives (its Lost refuses nothing: every test here leaves none behind).
func restoreAsCLI(t *testing.T, backup, path string) restored {
	t.Helper()
	var r restored
	if _, err := RestoreWith(backup, path, RestoreOptions{
		Lost: func(l []NotInBackup, known bool) error {
			if len(l) > 0 {
				t.Errorf("the restore would leave behind %v", l)
			}
			return nil
		},
		Gone:  func(g []GoneSinceBackup) { r.gone = g },
		Holds: func(h []GoneSinceBackup, queues []string) { r.held, r.queues = h, queues },
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// startAndGet opens (starts) the database at path and reads the message.
func startAndGet(t *testing.T, path string, id ID) (*Message, *Store) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var m *Message
	if err := s.View(func(tx *Tx) error { m, err = tx.Get(id); return err }); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return m, s
}

func change(t *testing.T, s *Store, f func(tx *Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

// wantRestoredSuspended fails unless the started database holds m
// restored suspended: held, and saying why.
func wantRestoredSuspended(t *testing.T, path string, id ID, how string) {
	t.Helper()
	m, s := startAndGet(t, path, id)
	defer s.Close()
	if m.State != Suspended || !m.RestoredSuspended() || CurrentError(m) != restoreGoneHold {
		t.Fatalf("%s: message restored %v with last error %q, want suspended, %q", how, m.State, CurrentError(m), restoreGoneHold)
	}
}

// The replaced database delivered the message after the backup; the
// backup is restored twice before a start: the second restore's
// replaced database is the first's result, which holds the message to
// be suspended by its first start.
func TestQ4SecondRestoreBeforeStartKeepsMailDeliveredSinceBackupSuspended(t *testing.T) {
	path, s := dataDirStore(t)
	m := putReady(t, s, []byte(body))
	backup := backupTo(t, s, BackupOptions{})
	change(t, s, func(tx *Tx) error { return tx.Delete(m.ID) }) // delivered after the backup
	s.Close()
	if r := restoreAsCLI(t, backup, path); !slices.Equal(r.goneIDs(), []ID{m.ID}) {
		t.Fatalf("first restore listed %v as restored suspended, want %s", r.gone, m.ID)
	}
	if r := restoreAsCLI(t, backup, path); !slices.Equal(r.goneIDs(), []ID{m.ID}) {
		t.Errorf("second restore listed %v as restored suspended, want %s: the first restore's database holds it to be suspended", r.gone, m.ID)
	}
	wantRestoredSuspended(t, path, m.ID, "restored twice before a start")
}

// The same, a start between the two restores: the second restore's
// replaced database holds the message restored suspended.
func TestQ4SecondRestoreAfterStartKeepsMailDeliveredSinceBackupSuspended(t *testing.T) {
	path, s := dataDirStore(t)
	m := putReady(t, s, []byte(body))
	backup := backupTo(t, s, BackupOptions{})
	change(t, s, func(tx *Tx) error { return tx.Delete(m.ID) })
	s.Close()
	restoreAsCLI(t, backup, path)
	wantRestoredSuspended(t, path, m.ID, "restored once, started")
	if r := restoreAsCLI(t, backup, path); !slices.Equal(r.goneIDs(), []ID{m.ID}) {
		t.Errorf("second restore listed %v as restored suspended, want %s: the replaced database held it restored suspended", r.gone, m.ID)
	}
	wantRestoredSuspended(t, path, m.ID, "restored, started, restored again")
}

// Suspended by the operator after the backup: it stays suspended, and
// the restore lists it as a hold it kept. Restored again before a start,
// the hold is still kept.
func TestQ4RestoreKeepsOperatorSuspendMadeAfterBackup(t *testing.T) {
	path, s := dataDirStore(t)
	m := putReady(t, s, []byte(body))
	free := putReady(t, s, []byte(body)) // in both, ready in both: restored ready
	backup := backupTo(t, s, BackupOptions{})
	change(t, s, func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.State = Suspended // message suspend
		return tx.Put(got)
	})
	s.Close()
	for i, how := range []string{"restored once", "restored twice before a start"} {
		r := restoreAsCLI(t, backup, path)
		if len(r.gone) != 0 || !slices.Equal(r.heldIDs(), []ID{m.ID}) {
			t.Errorf("%s: restored suspended %v, kept suspended %v; want none, and %s kept suspended", how, r.gone, r.held, m.ID)
		}
		if i == 0 {
			continue
		}
		got, s := startAndGet(t, path, m.ID)
		if got.State != Suspended || got.RestoredSuspended() {
			t.Errorf("%s: the operator's hold restored as %v (%q), want suspended as the operator left it", how, got.State, got.LastError)
		}
		var other *Message
		if err := s.View(func(tx *Tx) (err error) { other, err = tx.Get(free.ID); return err }); err != nil {
			t.Fatal(err)
		}
		if other.State != Ready {
			t.Errorf("a message ready in both databases restored %v, want ready", other.State)
		}
		s.Close()
	}
	// Started since: the database replaced holds it suspended by the operator.
	if r := restoreAsCLI(t, backup, path); !slices.Equal(r.heldIDs(), []ID{m.ID}) {
		t.Errorf("restored after a start: kept suspended %v, want %s", r.held, m.ID)
	}
	got, s := startAndGet(t, path, m.ID)
	defer s.Close()
	if got.State != Suspended {
		t.Errorf("restored after a start: the operator's hold restored as %v, want suspended", got.State)
	}
}

// A queue suspended after the backup stays suspended, and is named;
// restored again before a start, still suspended.
func TestQ4RestoreKeepsQueueSuspendMadeAfterBackup(t *testing.T) {
	path, s := dataDirStore(t)
	putReady(t, s, []byte(body))
	change(t, s, func(tx *Tx) error { return tx.SetSuspended("smarthost:old", true) }) // in the backup too
	backup := backupTo(t, s, BackupOptions{})
	change(t, s, func(tx *Tx) error { return tx.SetSuspended("smarthost:sink", true) })
	s.Close()
	for _, how := range []string{"restored once", "restored twice before a start", "restored after a start"} {
		r := restoreAsCLI(t, backup, path)
		if !slices.Equal(r.queues, []string{"smarthost:sink"}) {
			t.Errorf("%s: queues kept suspended %v, want smarthost:sink (smarthost:old is suspended in the backup already)", how, r.queues)
		}
		if how == "restored once" {
			continue
		}
		r2, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		r2.View(func(tx *Tx) error {
			for _, q := range []string{"smarthost:sink", "smarthost:old"} {
				if !tx.IsSuspended(q) {
					t.Errorf("%s: queue %s restored resumed, want suspended", how, q)
				}
			}
			return nil
		})
		r2.Close()
	}
}

// Held in the backup (message suspend before it), finished in the
// replaced database after (resumed and delivered, or removed): it stays
// suspended, and is now marked and listed restored suspended, so that a
// resume is told it may have gone already.
func TestQ4RestoreMarksSuspendedBackupMessageFinishedSince(t *testing.T) {
	path, s := dataDirStore(t)
	m := putReady(t, s, []byte(body))
	change(t, s, func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.State = Suspended
		return tx.Put(got)
	})
	backup := backupTo(t, s, BackupOptions{})
	change(t, s, func(tx *Tx) error { return tx.Delete(m.ID) })
	s.Close()
	if r := restoreAsCLI(t, backup, path); !slices.Equal(r.goneIDs(), []ID{m.ID}) {
		t.Errorf("restore listed %v as restored suspended, want %s", r.gone, m.ID)
	}
	wantRestoredSuspended(t, path, m.ID, "suspended in the backup, gone since")
}

// Delivered in part and suspended by the operator after the backup: a
// recipient got it, so it is restored suspended (the stronger word: a
// resume may send it twice), not merely kept held.
func TestQ4RestorePartlyDeliveredAndSuspendedIsRestoredSuspended(t *testing.T) {
	path, s := dataDirStore(t)
	m := msg(s, "a@example.org", "one@example.test", "two@example.test")
	m.State = Ready
	change(t, s, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) })
	backup := backupTo(t, s, BackupOptions{})
	change(t, s, func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.Rcpts[0].Status = Delivered
		got.State = Suspended
		return tx.Put(got)
	})
	s.Close()
	r := restoreAsCLI(t, backup, path)
	if !slices.Equal(r.goneIDs(), []ID{m.ID}) || len(r.held) != 0 {
		t.Errorf("restored suspended %v, kept suspended %v; want %s restored suspended only", r.gone, r.held, m.ID)
	}
	wantRestoredSuspended(t, path, m.ID, "delivered in part and suspended")
}
