package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A damaged record of one primary (bytes of its page overwritten) must
// not stop the shadow work of every other primary: ShadowPeers lists the
// others, with their copies watched, and names the damaged one
// (DamagedPeers) for the log and the metric.
func TestDamagedPeerRecordSparesTheOthers(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	for _, p := range []string{"hub-a", "hub-b"} {
		if _, err := q.SubmitShadowCopy(ctx, receiptCopy(s, "x@b.example"), []byte(body), p, "127.0.0.1:25", "db-"+p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		return tx.tx.Bucket(bucketPeers).Put([]byte("hub-a"), []byte{0xff, 1, 2})
	}); err != nil {
		t.Fatal(err)
	}
	peers, err := q.ShadowPeers()
	if err != nil || len(peers) != 1 || peers[0].Primary != "hub-b" || peers[0].DatabaseID != "db-hub-b" {
		t.Fatalf("ShadowPeers = %+v, %v; want hub-b alone", peers, err)
	}
	if got := q.DamagedPeers(); len(got) != 1 || got[0] != "hub-a" {
		t.Fatalf("DamagedPeers = %q, want hub-a", got)
	}
	// hub-b's contact works as before.
	if _, err := q.ShadowContact("hub-b", "db-hub-b", nil); err != nil {
		t.Fatalf("contact of hub-b: %v", err)
	}
}
