package queue

import "testing"

// rt16a F2: the count of failed heartbeats that made a takeover is kept
// in the database with the primary's record, is not raised by
// the failures counted after it, and goes with the contact that ends
// the takeover. SR-6, OPS (shadowrt35 F3): the failures counted stay at
// that count too — shadow list's FAILED HEARTBEATS, its WHY and the log
// lines say one number (they said 6 beside "4 heartbeats failed").
func TestTakeoverFailuresKept(t *testing.T) {
	r := newGivebackRig(t)
	r.takenOver(t)
	for i := 0; i < 2; i++ { // failing on after the takeover
		failures, _, err := r.q.ShadowHeartbeatFailed("hub-b", r.clk.Now(), 0, 3, "timeout")
		if err != nil {
			t.Fatal(err)
		}
		if failures != 3 {
			t.Fatalf("a failed heartbeat after the takeover counts %d failures, want 3 (the takeover's count, one number everywhere)", failures)
		}
	}
	peer := func() *ShadowPeer {
		t.Helper()
		var p *ShadowPeer
		if err := r.s.View(func(tx *Tx) error { var err error; p, err = tx.Peer("hub-b"); return err }); err != nil || p == nil {
			t.Fatalf("hub-b's record: %v %v", p, err)
		}
		return p
	}
	if p := peer(); !p.TakenOver || p.Failures != 3 || p.TakeoverFailures != 3 {
		t.Fatalf("after 3 failures, the takeover and 2 more: taken over %v, failures %d, takeover failures %d; want true, 3, 3",
			p.TakenOver, p.Failures, p.TakeoverFailures)
	}
	peers, err := r.q.ShadowPeers()
	if err != nil || len(peers) != 1 || peers[0].TakeoverFailures != 3 {
		t.Fatalf("ShadowPeers: %+v %v; want hub-b with takeover failures 3", peers, err)
	}
	if _, err := r.q.ShadowContact("hub-b", "db1", nil); err != nil {
		t.Fatal(err)
	}
	if p := peer(); p.TakenOver || p.TakeoverFailures != 0 {
		t.Fatalf("after a contact: taken over %v, takeover failures %d; want false, 0", p.TakenOver, p.TakeoverFailures)
	}
	if err := r.s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketTakeoverFailures).Get([]byte("hub-b")); v != nil {
			t.Errorf("the count stays stored after the contact: %x", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
