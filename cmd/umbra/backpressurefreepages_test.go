package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/backpressure"
	"umbra/internal/queue"
)

// fullDisk is a filesystem whose only content is the data directory's
// files: its usage is what they take up (read from the real files),
// and avail bytes are left.
type fullDisk struct {
	files []string
	avail uint64
}

func (d *fullDisk) Usage(string) (used, avail uint64, err error) {
	for _, f := range d.files {
		_, n, err := backpressure.Statfs{}.File(f)
		if err != nil {
			return 0, 0, err
		}
		used += uint64(n)
	}
	return used, d.avail, nil
}

func (d *fullDisk) File(path string) (uint64, int64, error) { return backpressure.Statfs{}.File(path) }

// A backlog that filled the disk and drained leaves queue.db a file of
// free pages, which umbra reuses without growing it: disk_used_percent
// counts them as free, so the level falls once the queue drains and
// does not wait for traffic it refuses (or for a db compact) to lower
// it (lifert38-F1).
func TestBackPressureDiskFreePagesOfTheDatabaseCountAsFree(t *testing.T) {
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "queue.db")
	st, err := queue.Open(dbPath, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const n = 60
	value := make([]byte, 200<<10)
	for i := 0; i < n; i++ {
		if err := st.UpdateTLSReport(ctx, "2026-12-06", fmt.Sprintf("d%02d.example", i), func([]byte) []byte { return value }); err != nil {
			t.Fatal(err)
		}
	}
	_, full, err := backpressure.Statfs{}.File(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	disk := &fullDisk{files: []string{dbPath}, avail: uint64(full) / 25} // 96% used, less what bbolt left free while it grew
	m := backpressure.New([]backpressure.Resource{{Name: "disk_used_percent",
		Mark: backpressure.Watermark{Normal: 50, Medium: 60, High: 70}, Read: diskUsedPercent(dataDir, st, disk)}},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if s := m.Check(); s.Level != backpressure.High {
		t.Fatalf("with the backlog in the database: %+v, want high", s)
	}
	for i := 0; i < n; i++ {
		if err := st.DeleteTLSReport(ctx, "2026-12-06", fmt.Sprintf("d%02d.example", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, now, _ := (backpressure.Statfs{}).File(dbPath); now < full {
		t.Fatalf("the database file shrank from %d to %d bytes: the test needs its free pages kept", full, now)
	}
	if s := m.Check(); s.Level != backpressure.Normal {
		t.Fatalf("the backlog drained, its pages free in queue.db: %+v, want normal", s)
	}
}
