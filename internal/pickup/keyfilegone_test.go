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

// SR-12: an unmarked pickup file (its rename to .queued failed: a
// read-only pickup directory, a move that hung) that lingers past
// message_expiration is not submitted twice: its submission key, which
// the hourly pruning forgot after message_expiration, is kept while the
// file is there (KeyFileGone), and forgotten once it is gone or another
// drop took its name. A real queue on bbolt, its scheduling loop on a
// fake clock.
func TestSR12LingeringPickupFileNotSubmittedTwice(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir) // as serve does: the lock file marks the directory in use (dirInUse)
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
	q := queue.NewManager(st, queue.DelivererFunc(func(ctx context.Context, m *queue.Message, b []byte, rcpts []int) []queue.Result {
		var out []queue.Result
		for _, i := range rcpts {
			r := queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "mx:example.net", Reply: "451 4.4.1 not now"}
			if deliver.Load() {
				r.Outcome, r.Reply = queue.DeliveredOK, "250 ok"
			}
			out = append(out, r)
		}
		return out
	}), queue.ManagerConfig{Clock: clk, MessageExpiration: time.Hour, RetrySchedule: []time.Duration{time.Minute},
		PickupKeyGone: KeyFileGone(dir)})
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
	content := "X-Receiver: a@example.net\nMessage-ID: <linger@app.example>\nSubject: x\n\nhi\n"
	dropFile(t, dir, "report.eml", content)
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	w.rename = func(string, string) error { return errors.New("read-only file system") }
	ctx, cancel := context.WithCancel(context.Background())
	w.Scan(ctx)
	cancel() // the daemon stopped before the message ended: the file is not removed
	w.wg.Wait()
	if n := len(queued(t, st)); n != 1 {
		t.Fatalf("%d messages after the first scan", n)
	}
	// Its message ends (delivered); the file stays, unmarked.
	deliver.Store(true)
	settle("the message delivered", func() bool { return len(queued(t, st)) == 0 })
	// Two days on, the hourly pruning has run: a sentinel key (no
	// pickup file's) submitted now is forgotten by the pass that
	// forgot the pickup key before.
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

	w = New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	w.rename = func(string, string) error { return errors.New("read-only file system") }
	ctx, cancel = context.WithCancel(context.Background())
	w.Scan(ctx)
	cancel()
	w.wg.Wait()
	if ms := queued(t, st); len(ms) != 0 {
		t.Fatalf("the file still there two days later (message_expiration 1h) was submitted again: %d messages", len(ms))
	}
	// Another drop under the same name is another drop: the old key
	// may go; a directory not there says nothing is gone.
	os.Remove(filepath.Join(dir, "report.eml"))
	dropFile(t, dir, "report.eml", content)
	if !KeyFileGone(dir)("report.eml", "pickup:an-older-drop") {
		t.Error("another drop's key: not gone")
	}
	if KeyFileGone(filepath.Join(dir, "unmounted"))("report.eml", "x") {
		t.Error("a directory not there: gone")
	}
}
