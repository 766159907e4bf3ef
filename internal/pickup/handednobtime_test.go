package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-12: on a file system that gives no birth time the key holds the
// change time (statFileKey), and the move aside (.NAME.<id>.handed)
// changes it: the submitted drop, unchanged, is no longer told as itself
// at the end of its wait, is given back to NAME.eml and submitted again.
func TestSR12HandedMoveOnFileSystemWithoutBirthTimeSubmitsOnce(t *testing.T) {
	birthTime = func(string) (int64, uint32, bool) { return 0, 0, false } // a file system without birth times (ctime stands in)
	t.Cleanup(func() { birthTime = statxBirthTime })
	dir := t.TempDir()
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var delivered atomic.Int32
	q := queue.NewManager(st, queue.DelivererFunc(func(ctx context.Context, m *queue.Message, b []byte, rcpts []int) []queue.Result {
		var out []queue.Result
		for _, i := range rcpts {
			out = append(out, queue.Result{Rcpt: i, Outcome: queue.DeliveredOK, Queue: "mx:example.net", Reply: "250 ok"})
		}
		if m.Connector == "pickup" {
			delivered.Add(1)
		}
		return out
	}), queue.ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	loop, stop := context.WithCancel(context.Background())
	q.Start(loop)
	defer func() { stop(); q.Wait() }()

	dropFile(t, dir, "app.eml", "X-Receiver: a@example.net\nSubject: one\n\nfirst\n")
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	var failed atomic.Bool
	w.rename = func(a, b string) error { // the mark fails once (a full disk), then works
		if failed.CompareAndSwap(false, true) {
			return errors.New("no space left on device")
		}
		return os.Rename(a, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	// The message is delivered; the wait ends and settles the unmarked file.
	deadline := time.Now().Add(10 * time.Second)
	for delivered.Load() == 0 && time.Now().Before(deadline) {
		q.Kick()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 5; i++ {
		w.Scan(ctx)
		q.Kick()
		time.Sleep(100 * time.Millisecond)
	}
	if n := delivered.Load(); n != 1 {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("app.eml, dropped once and unchanged, delivered %d times (directory now: %v)", n, names)
	}
}
