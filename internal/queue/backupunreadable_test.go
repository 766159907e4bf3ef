package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A backup meets spool files that are missing or truncated: without
// SkipUnreadable it is refused naming every message and dumpster copy
// whose body is unreadable; with it, it is written, reports them, and
// the database restored from it has every sound body and reports the
// missing files (their messages held as poison at their attempt), never
// a short body.
func TestBackupNamesUnreadableBodies(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	put := func(content []byte, dump bool) (*Message, Body, DumpsterKey) {
		b := spooled(t, s, content)
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		k := DumpsterKey{Database: "DB1", KeptAt: time.Unix(1000, 0), ID: m.ID}
		if err := s.Update(ctx, func(tx *Tx) error {
			if err := tx.PutNewBody(m, b); err != nil {
				return err
			}
			if dump {
				return tx.DumpsterPutBody(k, m, b)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return m, b, k
	}
	gone, gb, gk := put(bigContent(300<<10), true)
	short, sb, _ := put(bigContent(400<<10), false)
	sound, _, _ := put(bigContent(350<<10), false)
	p, _, _ := gb.File()
	os.Remove(p)
	p, _, _ = sb.File()
	os.Truncate(p, 1000)

	dir := t.TempDir()
	_, err := s.WriteBackup(filepath.Join(dir, "refused.db"))
	var ue *UnreadableBodiesError
	if !errors.As(err, &ue) || len(ue.Bodies) != 3 {
		t.Fatalf("backup with unreadable bodies: %v", err)
	}
	for _, want := range []string{"message " + gone.ID.String(), "dumpster copy of message " + gk.ID.String(),
		"message " + short.ID.String(), "missing", "1000 bytes", "--skip-unreadable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "refused.db")); err == nil {
		t.Error("a refused backup left a file")
	}
	var reported []UnreadableBody
	backup := filepath.Join(dir, "skip.db")
	_, err = SaveBackup(backup, func(w io.Writer) (int64, error) {
		return s.BackupWith(w, BackupOptions{SkipUnreadable: true, Unreadable: func(u []UnreadableBody) { reported = u }}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reported) != 3 {
		t.Fatalf("reported: %v", reported)
	}
	if err := VerifyBackup(backup); err != nil {
		t.Fatalf("the backup with bodies left out: %v", err)
	}
	live := filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	if _, err := RestoreWith(backup, live, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.MissingSpool()) != 2 {
		t.Errorf("missing spool files after restore: %v", r.MissingSpool())
	}
	r.View(func(tx *Tx) error {
		b, err := tx.BodyOf(sound.ID)
		if err != nil || !b.Spooled() || !bytes.Equal(readAllBody(t, b), bigContent(350<<10)) {
			t.Errorf("sound body after restore: %v", err)
		}
		for _, id := range []ID{gone.ID, short.ID} {
			b, err := tx.BodyOf(id)
			if err != nil {
				return err
			}
			if b.checkSpool() == nil {
				t.Errorf("message %s restored with a readable body", id)
			}
		}
		return nil
	})
}
