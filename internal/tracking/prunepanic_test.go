package tracking

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// OPS-4, OPS-2: a panic of the hourly pruning of the tracking log (a
// defect, here the log's clock) on its goroutine is recovered: counted
// (umbra_tracking_log_prune_panics_total), the log's lock free, the log
// still written, and the next hour tries again. Seen to fail first: the
// test binary died of the panic — in the daemon, every session with it.
func TestPrunePanicRecovered(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "tracking.log"), 1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.mu.Lock()
	l.maxAge = time.Hour
	l.now = func() time.Time { panic("injected panic in the tracking log's clock") }
	l.mu.Unlock()
	l.pruneRecovered()
	if n := testutil.ToFloat64(l.prunePanics); n != 1 {
		t.Fatalf("umbra_tracking_log_prune_panics_total %v, want 1", n)
	}
	if !l.mu.TryLock() {
		t.Fatal("the log's lock stayed held")
	}
	l.now = time.Now
	l.mu.Unlock()
}
