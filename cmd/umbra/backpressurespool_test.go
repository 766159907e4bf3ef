package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/backpressure"
	"umbra/internal/queue"
)

// twoMounts is a machine where the data directory's spool is a
// filesystem of its own (a mount at data_dir/spool): each path is on
// the device of the longest mount it lies under.
type twoMounts struct {
	mounts map[string]uint64    // mount point -> device
	usage  map[uint64][2]uint64 // device -> used, avail
}

func (d twoMounts) dev(path string) uint64 {
	best, dev := "", uint64(0)
	for m, dv := range d.mounts {
		if (path == m || strings.HasPrefix(path, strings.TrimSuffix(m, "/")+"/")) && len(m) > len(best) {
			best, dev = m, dv
		}
	}
	return dev
}

func (d twoMounts) Usage(path string) (uint64, uint64, error) {
	u := d.usage[d.dev(path)]
	return u[0], u[1], nil
}

func (d twoMounts) File(path string) (uint64, int64, error) { return d.dev(path), 0, nil }

// Back pressure watches the spool's filesystem too where it is not the
// data directory's (a mount of its own at data_dir/spool): a full spool
// refuses mail at MAIL, as a full data directory does, rather than
// failing each large body at the end of its DATA.
func TestBackPressureWatchesSpoolOnItsOwnFilesystem(t *testing.T) {
	dataDir := t.TempDir()
	st, err := queue.Open(filepath.Join(dataDir, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	disk := twoMounts{mounts: map[string]uint64{"/": 1, filepath.Join(dataDir, "spool"): 2},
		usage: map[uint64][2]uint64{1: {10, 90}, 2: {99, 1}}}
	m := backpressure.New([]backpressure.Resource{{Name: "disk_used_percent",
		Mark: backpressure.Watermark{Normal: 90, Medium: 94, High: 97}, Read: diskUsedPercent(dataDir, st, disk)}},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if s := m.Check(); s.Level != backpressure.High {
		t.Fatalf("spool's filesystem 99%% used: %+v, want high", s)
	}
	// One filesystem for both: the data directory's figure alone.
	disk.mounts = map[string]uint64{"/": 1}
	disk.usage[1] = [2]uint64{10, 90}
	m2 := backpressure.New([]backpressure.Resource{{Name: "disk_used_percent",
		Mark: backpressure.Watermark{Normal: 90, Medium: 94, High: 97}, Read: diskUsedPercent(dataDir, st, disk)}},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if s := m2.Check(); s.Level != backpressure.Normal {
		t.Fatalf("one filesystem 10%% used: %+v, want normal", s)
	}
}
