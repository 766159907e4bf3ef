package pickup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

// SR-12: a file the previous build submitted under statFileKey and left
// unmarked, unchanged since, is found submitted after the upgrade also
// on a file system that gives no birth time (NFS). There the change
// time, in statFileKey already, is stamped by the file server's clock,
// not umbra's: a file server a few seconds ahead of umbra's host (the
// manager's clock 3 s behind here) must not make the unchanged file a
// new drop, its message queued twice.
func TestSR12UpgradeStatKeyFileServerClockAhead(t *testing.T) {
	birthTime = func(string) (int64, uint32, bool) { return 0, 0, false } // a file system without birth times
	t.Cleanup(func() { birthTime = statxBirthTime })
	dir := t.TempDir()
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Now().Add(-3 * time.Second)) // umbra's host, behind the file server
	q := queue.NewManager(st, queue.DelivererFunc(func(ctx context.Context, m *queue.Message, b []byte, rcpts []int) []queue.Result {
		var out []queue.Result
		for _, i := range rcpts {
			out = append(out, queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "mx:example.net", Reply: "451 4.4.1 not now"})
		}
		return out
	}), queue.ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	loop, stop := context.WithCancel(context.Background())
	q.Start(loop)
	defer func() { stop(); q.Wait() }()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dropFile(t, dir, "old.eml", "X-Receiver: a@example.net\nSubject: x\n\nhi\n")
	path := filepath.Join(dir, "old.eml")
	// The previous build's submission, its rename then failing.
	m := &queue.Message{ID: q.NewID(), From: "s@example.org", Connector: "pickup", Helo: "old.eml", Rcpts: []queue.Recipient{{Addr: "a@example.net"}}}
	if _, _, err := q.SubmitKeyed(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n"), statFileKey(path, mustLstat(t, path))); err != nil {
		t.Fatal(err)
	}
	// Upgrade: the new build scans the unchanged file.
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	if ms := queued(t, st); len(ms) != 1 {
		t.Fatalf("the unchanged file the previous build submitted was queued again: %d messages", len(ms))
	}
	if _, err := os.Stat(filepath.Join(dir, "old."+m.ID.String()+".queued")); err != nil {
		t.Fatalf("not marked with its message: %v", err)
	}
}
