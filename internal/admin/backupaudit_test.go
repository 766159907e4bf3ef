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
