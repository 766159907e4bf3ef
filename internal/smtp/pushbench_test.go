package smtp

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"umbra/internal/queue"
)

// queuePush applies pushed discards with the real queue (a bbolt file,
// one fsync'd commit per ShadowPushed): what a stopping primary's
// hand-over costs the shadow server.
type queuePush struct {
	*droppedShadow
	q *queue.Manager
}

func (p *queuePush) ShadowPushedMarked(primary, dbID string, mark uint64, discards []string) (queue.ContactResult, error) {
	return p.q.ShadowPushedMarked(primary, dbID, mark, discards)
}

// BenchmarkPushDiscards: a stopping primary hands 500 discard
// notifications to one shadow server (delivery PushOwedDiscards), over
// loopback, the shadow server committing each command's to a real
// transport database. b.N counts hand-overs of 500.
func BenchmarkPushDiscards(b *testing.B) {
	st, err := queue.Open(filepath.Join(b.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	if _, err := q.ShadowPresented("hub2", "db-hub2", nil); err != nil { // a primary with copies here
		b.Fatal(err)
	}
	sh := &queuePush{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}, q: q}
	s := startShadowServer(b, &markQueue{mark: 1}, sh, true, transportConnector(b, ""))
	lines := make([]string, 500)
	for i := range lines {
		lines[i] = fmt.Sprintf("0123456789abcdef0123456789abcd%02x-%d", i%256, i)
	}
	for _, v := range []int{13, ShadowVersion} {
		b.Run(fmt.Sprintf("version-%d", v), func(b *testing.B) {
			c := clientFor(b, s)
			if _, err := c.Shadow("hub2"); err != nil {
				b.Fatal(err)
			}
			c.ShadowVersion = min(c.ShadowVersion, v)
			b.ResetTimer()
			for range b.N {
				if n, err := pushAll(c, lines); err != nil || n != len(lines) {
					b.Fatalf("pushed %d of %d: %v", n, len(lines), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(lines)), "µs/discard")
		})
	}
}

// pushAll pushes lines as a stop does (PushDiscards).
func pushAll(c *Client, lines []string) (int, error) { return c.PushDiscards(lines) }
