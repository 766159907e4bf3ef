package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// SR-6 (rt47 minor): a takeover deferred at the retry count (a contact
// with the primary within timeout × retries) and made by the next
// failure says the count the deferred failure's WARN said ("failures=3
// of=3"): the takeover's event, its log line and shadow list's FAILED
// HEARTBEATS said 4. The count toward a takeover stands at the retry
// count, deferred or taken over. Seen to fail first: 4.
func TestDeferredTakeoverSaysTheRetryCount(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const timeout = 5 * time.Second
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	c := msg(s, "b@example.org", "y@b.example")
	c.OrgID = orgid.New()
	if _, err := q.SubmitShadowCopy(context.Background(), c, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		clk.Advance(time.Second)
		if f, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 3, "greeting: EOF"); err != nil || f != i {
			t.Fatalf("failure %d: %d, %v", i, f, err)
		}
	}
	clk.Advance(time.Second)
	if f, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 3, "greeting: EOF"); !errors.Is(err, ErrTakeoverDeferred) || f != 3 {
		t.Fatalf("third failure within the bound: %d, %v; want 3, deferred", f, err)
	}
	clk.Advance(3 * timeout)
	f, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 3, "greeting: EOF")
	if err != nil || taken != 1 {
		t.Fatalf("the failure past the bound: taken %d, %v; want the copy taken over", taken, err)
	}
	peers, _ := q.ShadowPeers()
	if f != 3 || len(peers) != 1 || peers[0].Failures != 3 || peers[0].TakeoverFailures != 3 {
		t.Fatalf("the takeover says %d failures, shadow list %+v; want 3 in both, as the deferred failure said", f, peers)
	}
}
