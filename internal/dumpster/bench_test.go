package dumpster

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

var body4k = make([]byte, 4096)

// fill puts n 4 KiB copies for DB1 into the dumpster, one second apart
// from t0, in large transactions.
func fill(b *testing.B, store *queue.Store, n int) {
	b.Helper()
	for done := 0; done < n; {
		err := store.Update(context.Background(), func(tx *queue.Tx) error {
			for i := done; i < n && i < done+2000; i++ {
				m := &queue.Message{ID: queue.ID(i + 1), State: queue.Ready, From: "a@example.org",
					MessageID: fmt.Sprintf("<%d@bench>", i), Rcpts: []queue.Recipient{{Addr: "bob@example.test"}}}
				if err := tx.DumpsterPut(queue.DumpsterKey{Database: "DB1", KeptAt: t0.Add(time.Duration(i) * time.Second), ID: m.ID}, m, body4k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += 2000
	}
}

func openBench(b *testing.B, noSync bool) *queue.Store {
	store, err := queue.Open(filepath.Join(b.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return store
}

// The dumpster's share of a final delivery's commit: one 4 KiB copy kept
// and, in steady state, the oldest evicted. "fsync" pays a commit per
// delivery as the queue does; "nosync" shows the dumpster's own cost.
func BenchmarkDumpsterKeep(b *testing.B) {
	for _, mode := range []string{"nosync", "fsync"} {
		b.Run(mode, func(b *testing.B) {
			store := openBench(b, mode == "nosync")
			clk := clock.NewFake(t0)
			d := New(store, Config{MaxSizePerDatabase: 1000 * 4096, MaxTime: 7 * 24 * time.Hour}, Options{Clock: clk})
			fill(b, store, 1000) // full: every insert evicts one
			m := &queue.Message{From: "a@example.org", MessageID: "<x@bench>", Rcpts: []queue.Recipient{{Addr: "bob@example.test"}}}
			b.SetBytes(int64(len(body4k)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.ID = queue.ID(1_000_000 + i)
				now := t0.Add(time.Duration(1000+i) * time.Second)
				err := store.Update(context.Background(), func(tx *queue.Tx) error {
					_, err := d.Keep(tx, m, queue.MemBody(body4k), "DB1", []int{0}, now)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Pruning a backlog of 10,000 aged 4 KiB copies, in bounded transactions
// with fsync; ns/op is per copy.
func BenchmarkDumpsterPrune(b *testing.B) {
	const n = 10000
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store := openBench(b, false)
		clk := clock.NewFake(t0)
		d := New(store, Config{MaxSizePerDatabase: 1 << 40, MaxTime: time.Hour}, Options{Clock: clk})
		fill(b, store, n)
		clk.Advance(n*time.Second + 2*time.Hour)
		b.StartTimer()
		start := time.Now()
		if got, err := d.Prune(context.Background()); err != nil || got != n {
			b.Fatalf("pruned %d, %v", got, err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*n), "ns/copy")
}

// Redelivery of 10,000 dumpster copies: "resubmit" moves them back to the
// queue (with fsync, bounded transactions); "deliver" also runs them
// through the queue manager to a mailbox that takes everything, until
// the queue is empty again.
func BenchmarkRedeliver10k(b *testing.B) {
	const n = 10000
	for _, mode := range []string{"resubmit", "deliver"} {
		b.Run(mode, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				store := openBench(b, false)
				clk := clock.NewFake(t0.Add(n * time.Second))
				d := New(store, Config{MaxSizePerDatabase: 1 << 40, MaxTime: 30 * 24 * time.Hour}, Options{Clock: clk})
				var mgr *queue.Manager
				mgr = queue.NewManager(store, queue.DelivererFunc(func(_ context.Context, m *queue.Message, _ []byte, rcpts []int) []queue.Result {
					var out []queue.Result
					for _, r := range rcpts {
						res := queue.Result{Rcpt: r, Outcome: queue.DeliveredOK, Queue: "mailbox:DB1", Database: "DB1", Reply: "250"}
						res.Duplicate = mgr.ClaimFinal(m.ID, "DB1", m.OrgID, m.Rcpts[r].Addr) == queue.Duplicate
						out = append(out, res)
					}
					return out
				}), queue.ManagerConfig{Clock: clk, Dumpster: d, MaxActive: 1000})
				fill(b, store, n)
				ctx, cancel := context.WithCancel(context.Background())
				if mode == "deliver" {
					mgr.Start(ctx)
				}
				b.StartTimer()
				start := time.Now()
				req, _, err := d.Redeliver(context.Background(), fmt.Sprint("r", i), "DB1", t0)
				if err != nil || req.Resubmitted != n {
					b.Fatalf("%+v %v", req, err)
				}
				if mode == "deliver" {
					for {
						left := 0
						store.View(func(tx *queue.Tx) error {
							for _, q := range tx.Queues() {
								left += q.Count
							}
							return nil
						})
						if left == 0 {
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				total += time.Since(start)
				b.StopTimer()
				cancel()
				mgr.Wait()
			}
			b.ReportMetric(float64(b.N*n)/total.Seconds(), "msgs/s")
		})
	}
}
