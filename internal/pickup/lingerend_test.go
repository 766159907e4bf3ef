package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

// SR-12: an unmarked NAME.eml that lingers past message_expiration
// keeps its key (KeyFileGone); its message's recorded end must be kept
// with it. Pruned (QueuedFileGone looks only for NAME.<id>.queued, which
// an unmarked file never had), the next scan once the directory takes
// renames again found the key, marked the file .queued, and the wait's
// PickupFate said unknown: the file was given back as
// NAME.restored-<id>.eml and submitted a second time.
func TestSR12LingeringUnmarkedFileNotSubmittedTwiceOnceWritable(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Now())
	var deliver atomic.Bool
	var delivered atomic.Int32
	q := queue.NewManager(st, queue.DelivererFunc(func(ctx context.Context, m *queue.Message, b []byte, rcpts []int) []queue.Result {
		var out []queue.Result
		for _, i := range rcpts {
			r := queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "mx:example.net", Reply: "451 4.4.1 not now"}
			if deliver.Load() {
				r.Outcome, r.Reply = queue.DeliveredOK, "250 ok"
				if m.Connector == "pickup" {
					delivered.Add(1)
				}
			}
			out = append(out, r)
		}
		return out
	}), queue.ManagerConfig{Clock: clk, MessageExpiration: time.Hour, RetrySchedule: []time.Duration{time.Minute},
		PickupKeyGone: KeyFileGone(dir), PickupFileGone: QueuedFileGone(dir)})
	loop, stop := context.WithCancel(context.Background())
	q.Start(loop)
	defer func() { stop(); q.Wait() }()
	settle := func(what string, done func() bool) {
		t.Helper()
		for i := 0; !done(); i++ {
			if i > 2000 {
				t.Fatalf("%s: not within the bound", what)
			}
			clk.Advance(2 * time.Minute)
			q.Kick()
			time.Sleep(5 * time.Millisecond)
		}
	}
	dropFile(t, dir, "report.eml", "X-Receiver: a@example.net\nSubject: x\n\nhi\n")
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	w.rename = func(string, string) error { return errors.New("read-only file system") }
	ctx, cancel := context.WithCancel(context.Background())
	w.Scan(ctx)
	cancel()
	w.wg.Wait()
	deliver.Store(true)
	settle("the message delivered", func() bool { return len(queued(t, st)) == 0 })
	// Two days on (a read-only directory all along), the hourly pruning has run.
	submitSentinel := func() bool {
		m := &queue.Message{ID: q.NewID(), From: "s@example.org", Rcpts: []queue.Recipient{{Addr: "a@example.net"}}}
		_, again, err := q.SubmitKeyed(context.Background(), m, []byte("Subject: s\r\n\r\nx\r\n"), "sentinel")
		if err != nil {
			t.Fatal(err)
		}
		return again
	}
	submitSentinel()
	settle("the sentinel delivered", func() bool { return len(queued(t, st)) == 0 })
	clk.Advance(48 * time.Hour)
	settle("the hourly pruning", func() bool { return !submitSentinel() })
	settle("the probe delivered", func() bool { return len(queued(t, st)) == 0 })

	// The directory takes renames again (remounted read-write).
	w = New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	ctx, cancel = context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	for i := 0; i < 3; i++ {
		w.Scan(ctx)
		time.Sleep(100 * time.Millisecond)
	}
	settle("all delivered", func() bool { return len(queued(t, st)) == 0 })
	if n := delivered.Load(); n != 1 {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("report.eml delivered %d times (directory now: %v)", n, names)
	}
}
