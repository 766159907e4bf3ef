package queue

import (
	"context"
	"testing"
)

// BenchmarkClaimRestoredGate is the restored-holder gate the claim runs
// for every due message (restoredTakeoverHeld, activeset.go), in a
// database never restored: a message of its own, and a copy taken over
// from another primary. Its cost there is the gate's whole cost on the
// hot path:
// go test ./internal/queue -run '^$' -bench ClaimRestoredGate
func BenchmarkClaimRestoredGate(b *testing.B) {
	s := openTest(b)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	for _, c := range []struct {
		name string
		m    *Message
	}{
		{"own", &Message{ID: 1, Rcpts: []Recipient{{Addr: "x@remote.example", Status: Pending, Queue: "mx:remote.example"}}}},
		{"taken-over", &Message{ID: 1, Rcpts: []Recipient{{Addr: "x@remote.example", Status: Pending, Primary: "hub-a", ShadowID: "1-a-1", Queue: "shadow:hub-a"}}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			_ = s.View(func(tx *Tx) error {
				b.ResetTimer()
				for range b.N {
					if _, held := q.restoredTakeoverHeld(tx, c.m); held {
						b.Fatal("held in a database never restored")
					}
				}
				return nil
			})
		})
	}
}
