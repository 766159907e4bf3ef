package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3 (db restore): the backup's check comes first. A damaged backup
// is refused as damaged even when the database it would replace holds
// messages the backup lacks: before, the count of those refused the
// restore first ("deliver the newer mail first"), no word of damage,
// and an operator who delivered them and tried again learnt only then
// that the backup was no good (lifert38-F3). A sound backup with the
// same newer mail is still refused for it.
func TestRestoreDamagedBackupRefusedBeforeNewerMail(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "queue.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(from, body string) {
		m := msg(st, from, "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := st.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	put("a@example.org", "Subject: x\r\n\r\nMARKER-LIFERT38-BODY and more of it\r\n")
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := st.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	put("after@example.org", "Subject: y\r\n\r\nnewer\r\n")
	st.Close()
	// One byte of the body flipped, wherever the file holds it (the
	// record and a free page may both).
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	n := bytes.Count(data, []byte("MARKER-LIFERT38-BODY"))
	if n == 0 {
		t.Fatal("the body is not in the backup")
	}
	data = bytes.ReplaceAll(data, []byte("MARKER-LIFERT38-BODY"), []byte("MARKER-LIFERT38-BODZ"))
	bad := filepath.Join(filepath.Dir(backup), "flipped.db")
	if err := os.WriteFile(bad, data, 0o600); err != nil {
		t.Fatal(err)
	}
	errNewer := errors.New("newer mail refused")
	refuseNewer := RestoreOptions{Lost: func(l []NotInBackup, known bool) error {
		if len(l) > 0 {
			return errNewer
		}
		return nil
	}}
	before, _ := os.ReadFile(path)
	_, err = RestoreWith(bad, path, refuseNewer)
	if errors.Is(err, errNewer) || err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("a damaged backup, newer mail in the database: %v; want the damage named", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the refused restore changed the database")
	}
	if _, err := os.Stat(path + ".restore"); err == nil {
		t.Error("the refused restore left its copy")
	}
	if _, err = RestoreWith(backup, path, refuseNewer); !errors.Is(err, errNewer) {
		t.Fatalf("a sound backup, newer mail in the database: %v; want the newer mail's refusal", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the restore refused for newer mail changed the database")
	}
	if _, err := os.Stat(path + ".restore"); err == nil {
		t.Error("the restore refused for newer mail left its copy")
	}
}
