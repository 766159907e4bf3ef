package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkBodyCommits: the store's side of relaying a message, 20
// writers at once: a receive commit (PutNew of a body) and a result commit
// (Delete of the message received 40 before it), without fsync (the CPU of
// the commits, not the disk's latency). pages-KiB/op is what bbolt
// allocated and wrote for the two commits.
func BenchmarkBodyCommits(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			payload := []byte(strings.Repeat("x", size))
			var mu sync.Mutex
			var live []ID
			st := s.db.Stats()
			before := st.TxStats.GetPageAlloc()
			b.SetParallelism(10) // 20 writers on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m := &Message{ID: s.NewID(time.Now()), State: Ready, NextAttempt: time.Now().Add(time.Hour),
						From: "a@example.org", Rcpts: []Recipient{{Addr: "b@example.net"}}}
					if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, payload) }); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					live = append(live, m.ID)
					var gone ID
					if len(live) > 40 {
						gone, live = live[0], live[1:]
					}
					mu.Unlock()
					if gone != 0 {
						if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Delete(gone) }); err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
			b.StopTimer()
			st = s.db.Stats()
			b.ReportMetric(float64(st.TxStats.GetPageAlloc()-before)/1024/float64(b.N), "pages-KiB/op")
		})
	}
}
