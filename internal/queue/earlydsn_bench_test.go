package queue

import (
	"context"
	"fmt"
	"testing"
)

// reportedFixture writes n dsnreported entries, each a DSN reporting
// recipients of another original's copy on hub-c, in transactions of
// at most 10,000.
func reportedFixture(tb testing.TB, s *Store, n int) {
	tb.Helper()
	for done := 0; done < n; {
		k := min(10000, n-done)
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for i := 0; i < k; i++ {
				orig := ID(1_000_000 + 2*(done+i))
				dsn := ID(1_000_001 + 2*(done+i))
				sid := fmt.Sprintf("%032x", done+i)
				if err := tx.noteReported(dsn, orig, sid, "hub-c", sid, []string{"x@b.example"}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			tb.Fatal(err)
		}
		done += k
	}
}

// BenchmarkEarlyDSNCarries200k is the look of a message's end for its
// early failure DSNs (earlydsn.go) with 200,000 DSNs owed a partial
// discard queued, none of them its own: the cost each commit that ends
// a message with a copy elsewhere pays in the single writer's
// transaction.
func BenchmarkEarlyDSNCarries200k(b *testing.B) {
	s := openTest(b)
	reportedFixture(b, s, 200000)
	m := msg(s, "sender@example.org", "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-a", "0123456789abcdef0123456789abcdee"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.ViewSettled(func(tx *Tx) error {
			_, _, err := tx.earlyDSNCarries(m)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
