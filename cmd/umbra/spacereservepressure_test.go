package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/backpressure"
	"umbra/internal/queue"
	"umbra/internal/queue/queuetest"
)

// shrinkingDisk is a filesystem of total bytes whose only content is the
// files named (read from the real files): what they take up is used,
// the rest available — a file removed gives its room back.
type shrinkingDisk struct {
	files []string
	total uint64
}

func (d *shrinkingDisk) Usage(string) (used, avail uint64, err error) {
	for _, f := range d.files {
		if _, n, err := (backpressure.Statfs{}).File(f); err == nil {
			used += uint64(n)
		}
	}
	return used, d.total - min(used, d.total), nil
}

func (d *shrinkingDisk) File(path string) (uint64, int64, error) {
	return backpressure.Statfs{}.File(path)
}

// The space reserve given up on a full disk (queue/spacereserve.go) is
// room kept for the commits that free room, not room for new mail:
// disk_used_percent counts it as used until it is made again. Before,
// its release lowered the level (here from high to normal) at the next
// check, and new mail was taken again into the very room the freeing
// commit's retry needed (SMTP-backpressure; rt42 F2).
func TestBackPressureDiskCountsAGivenUpSpaceReserveAsUsed(t *testing.T) {
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "queue.db")
	st, err := queue.Open(dbPath, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.StartSpaceReserve(1<<20, nil)
	reserve := filepath.Join(dataDir, queue.SpaceReserveName)
	disk := &shrinkingDisk{files: []string{dbPath, reserve}}
	used, _, _ := disk.Usage(dataDir)
	disk.total = used * 4 / 3 // 75 % used, the reserve in it
	m := backpressure.New([]backpressure.Resource{{Name: "disk_used_percent",
		Mark: backpressure.Watermark{Normal: 50, Medium: 60, High: 70}, Read: diskUsedPercent(dataDir, st, disk)}},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if s := m.Check(); s.Level != backpressure.High {
		t.Fatalf("the disk nearly full, the reserve whole: %+v, want high", s)
	}

	restore := queuetest.FillDisk(t, dbPath)
	err = st.UpdateFreeing(context.Background(), "a test's takeover", func(tx *queue.Tx) error { return tx.RecordDelivered("db1", "org1", "b@example.net", time.Now()) })
	restore()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("the freeing commit on a disk still full: %v, want ENOSPC", err)
	}
	if _, err := os.Stat(reserve); !errors.Is(err, os.ErrNotExist) || st.SpaceReserveUsed() != 1 {
		t.Fatalf("the reserve was not given up (file: %v, used %d)", err, st.SpaceReserveUsed())
	}
	if s := m.Check(); s.Level != backpressure.High {
		t.Fatalf("the reserve given up for a freeing commit: %+v, want still high (its room is not for new mail)", s)
	}
}
