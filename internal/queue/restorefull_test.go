package queue

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rt21c M1's sibling: db restore onto a data directory without room
// names the file it was writing — the backup's copy beside the database,
// queue.db.restore, as given — with the cause, and says the database is
// unchanged (rt41 F6: naming queue.db read as if it were the file
// written); nothing is left.
func TestRestoreOntoFullDiskNamesTheDatabase(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", data).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a small tmpfs in CI: %v %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })
	s := openTest(t)
	ctx := context.Background()
	for range 8 {
		m := msg(s, "a@example.org", "x@ext.example")
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(strings.Repeat("x", 32<<10))) }); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(dir, "b.db")
	if _, err := SaveBackup(backup, func(w io.Writer) (int64, error) { return s.Backup(w, nil) }); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(data, "queue.db")
	_, err := Restore(backup, live)
	if err == nil || !strings.Contains(err.Error(), live+".restore: no space left on device") || !strings.Contains(err.Error(), "The database is unchanged") {
		t.Fatalf("restore onto a full disk: %v\nwant the copy %s.restore named with the cause, and the database unchanged", err, live)
	}
	if ents, _ := os.ReadDir(data); len(ents) != 0 {
		t.Errorf("left in the data directory: %v", ents)
	}
}
