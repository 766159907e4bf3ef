package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/tracking"
)

type refusingBackup struct{}

func (refusingBackup) Backup(io.Writer, func(int64)) (int64, error) {
	return 0, errors.New("2 message bodies are unreadable")
}

// A backup refused before its length was known is audited as nothing
// sent, not "sent 0 of -1 bytes".
func TestRefusedBackupAudit(t *testing.T) {
	dir := t.TempDir()
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	s, err := Listen(filepath.Join(dir, "admin.sock"), &fakeQueue{}, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDatabase(refusingBackup{})
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(filepath.Join(dir, "admin.sock"))
	if _, err := c.Backup(filepath.Join(dir, "b.db")); err == nil {
		t.Fatal("the backup did not fail")
	}
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit entries: %+v %v", es, err)
	}
	if e := es[0]; strings.Contains(e.Action, "-1") || !strings.Contains(e.Action, "nothing sent") {
		t.Errorf("audit: %+v", e)
	}
}

type smallBackup struct{}

func (smallBackup) Backup(w io.Writer, size func(int64)) (int64, error) {
	size(1000)
	n, err := w.Write(make([]byte, 1000))
	return int64(n), err
}

// rt20d-F6: the audit of a backup said "sent 298725376 of 298725376
// bytes" while the file the CLI wrote was 343,781,376 bytes (the client
// marks and seals the copy): the line says the number is the database
// snapshot the daemon sent, not the file's size.
func TestBackupAuditSaysWhatTheNumberIs(t *testing.T) {
	dir := t.TempDir()
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	s, err := Listen(filepath.Join(dir, "admin.sock"), &fakeQueue{}, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDatabase(smallBackup{})
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(filepath.Join(dir, "admin.sock"))
	// Not a transport database: the client's mark refuses it, after
	// the daemon sent it whole.
	c.Backup(filepath.Join(dir, "b.db"))
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit entries: %+v %v", es, err)
	}
	if a := es[0].Action; !strings.Contains(a, "snapshot of 1000 bytes sent whole") || !strings.Contains(a, "not the file's size") {
		t.Errorf("audit: %q; want it to say the number is the snapshot sent, not the file", a)
	}
}
