package tracking

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/queue"
)

// The tracking log has an age bound besides its size bound: the current
// file rotates once its first line is a day old, and a rotated file whose
// last line is older than max_age is deleted. Sizes, files and deletions
// are metrics.
func TestTrackingMaxAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 1<<20, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	reg := prometheus.NewRegistry()
	l.Register(reg)
	l.SetMaxAge(3 * 24 * time.Hour)
	write := func(i int) {
		m := &queue.Message{ID: queue.ID(i + 1), From: fmt.Sprintf("s%d@example.org", i), Rcpts: []queue.Recipient{{Addr: "r@example.net"}}}
		l.Event("receive", m, nil, "")
	}
	// Five days of one line an hour: the file rotates daily.
	for h := 0; h < 5*24; h++ {
		write(h)
		now = now.Add(time.Hour)
	}
	files, _ := filepath.Glob(path + ".*")
	if len(files) != 4 {
		t.Fatalf("after five days of daily rotation: %v", files)
	}
	// Rotated files carry the time of their last line (as their mtime
	// would, written in real time).
	for i := 1; i <= 4; i++ {
		at := now.Add(-time.Duration(i) * 24 * time.Hour)
		os.Chtimes(fmt.Sprintf("%s.%d", path, i), at, at)
	}
	if n := l.Prune(); n != 1 { // .4's last line is 4 days old; .3's exactly 3
		t.Fatalf("pruned %d files", n)
	}
	if _, err := os.Stat(path + ".4"); !os.IsNotExist(err) {
		t.Error(".4 kept past max_age")
	}
	if v := testutil.ToFloat64(l.pruned); v != 1 {
		t.Errorf("pruned counter %v", v)
	}
	if n, _ := testutil.GatherAndCount(reg, "umbra_tracking_log_files", "umbra_tracking_log_bytes"); n != 2 {
		t.Errorf("%d gauges", n)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "umbra_tracking_log_files" && mf.GetMetric()[0].GetGauge().GetValue() != 4 {
			t.Errorf("files gauge %v, want 4 (the current one and three rotated)", mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	// The newest entries are still found.
	if got, _ := l.Search(Query{Sender: "s119@"}); len(got) != 1 {
		t.Errorf("the last entry: %v", got)
	}
}

// A log reopened after a restart knows its current file's first line and
// rotates it on time.
func TestTrackingAgeSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, _ := Open(path, 1<<20, 3)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	l.Write(Entry{Time: now, Event: "receive", ID: "1"})
	l.Close()
	l, _ = Open(path, 1<<20, 3)
	defer l.Close()
	l.now = func() time.Time { return now.Add(25 * time.Hour) }
	l.SetMaxAge(30 * 24 * time.Hour)
	l.Write(Entry{Time: now.Add(25 * time.Hour), Event: "receive", ID: "2"})
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatal("a day-old current file was not rotated after a restart")
	}
}
