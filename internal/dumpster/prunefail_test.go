package dumpster

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/queue/queuetest"
)

// lockedBuffer is a log sink the dumpster's goroutine and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TD-1: a prune that cannot commit (a full disk) while a copy is past
// max_dumpster_time is tried again at the prune interval, not at once:
// the age bound's early prune (nextPrune) found the same copy still
// due after every failure and gave Run a millisecond's wait, a loop of
// failing commits and error lines a thousand times a second for as
// long as the disk stayed full.
func TestFailedPruneWaitsItsInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	store, err := queue.Open(path, queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clk := clock.NewFake(t0) // the dumpster's own: its timers are the only ones
	var logs lockedBuffer
	d := New(store, Config{MaxSizePerDatabase: 1 << 20, MaxTime: time.Hour, PruneInterval: time.Minute},
		Options{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	fillTiny(t, &rig{store: store}, "DB1", 1, t0.Add(-2*time.Hour)) // past max_dumpster_time

	var once sync.Once
	broken := queuetest.BreakWrites(t, path)
	restore := func() { once.Do(broken) }
	defer restore()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const failed = "pruning the dumpster failed"
	// The first prune fails, and Run waits for its timer.
	deadline := time.Now().Add(10 * time.Second)
	for (logs.count(failed) < 1 || clk.Pending() != 1) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := logs.count(failed); n != 1 || clk.Pending() != 1 {
		t.Fatalf("the first prune: %d failures logged, %d timers pending; want 1 and Run waiting", n, clk.Pending())
	}
	// A second passes: less than the prune interval, nothing is due.
	clk.Advance(time.Second)
	if clk.Pending() != 1 {
		t.Errorf("a second after a failed prune, Run's timer fired: it waits less than the prune interval (%s)", time.Minute)
	}
	for wait := time.Now().Add(200 * time.Millisecond); logs.count(failed) < 2 && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	if n := logs.count(failed); n != 1 {
		t.Fatalf("%d failed prunes within a second of fake time, want 1: Run retries a failing prune at once", n)
	}
	// The interval passes: the prune is tried again (and fails again).
	clk.Advance(time.Minute)
	for logs.count(failed) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := logs.count(failed); n != 2 {
		t.Errorf("after the prune interval %d failed prunes logged, want 2", n)
	}
	restore()
	// The disk has room again: the next prune removes the old copy.
	for clk.Pending() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	clk.Advance(time.Minute)
	var st queue.DumpsterStat
	for time.Now().Before(deadline) {
		store.View(func(tx *queue.Tx) error { st = tx.DumpsterStat("DB1"); return nil })
		if st.Messages == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if st.Messages != 0 {
		t.Errorf("once the disk takes writes again the copy past max_dumpster_time stays (%d copies)", st.Messages)
	}
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
