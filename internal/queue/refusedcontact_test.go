package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// SR-6, SR-7 (rt23a F1): hub-c restarted on a copy of hub-a's data dir
// presents hub-a's transport database id. Its contacts are refused here
// (nothing recorded under hub-c), and a refused contact is no contact: it
// must not count as hub-c heard from, or the takeover bound (timeout ×
// retries after the last contact of any kind) slides forward at every
// refused heartbeat and hub-c's copies — whose database hub-c no longer
// runs — wait forever. The failed heartbeats take them over at the
// announced time; hub-a's copy (the genuine owner of the id) stays.
func TestRefusedContactIsNoContact(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"})
	const timeout = 5 * time.Second
	push := func(primary, dbID string) *Message {
		c := msg(s, "b@example.org", "y@b.example")
		c.OrgID = orgid.New()
		if _, err := q.SubmitShadowCopy(context.Background(), c, []byte(body), primary, "", dbID); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, cc := push("hub-a", "db-a"), push("hub-c", "db-c")
	heard := q.ShadowLastHeard("hub-c")
	var other *DatabaseOfAnotherError
	for i := 1; i <= 3; i++ {
		clk.Advance(timeout)
		started := clk.Now()
		clk.Advance(10 * time.Millisecond)
		if _, err := q.ShadowContact("hub-c", "db-a", nil); !errors.As(err, &other) {
			t.Fatalf("contact %d of hub-c presenting hub-a's id: %v; want it refused", i, err)
		}
		if _, err := q.ShadowPresented("hub-c", "db-a", nil); !errors.As(err, &other) {
			t.Fatalf("XSHADOW reply %d of hub-c presenting hub-a's id: %v; want it refused", i, err)
		}
		if got := q.ShadowLastHeard("hub-c"); !got.Equal(heard) {
			t.Fatalf("refused contact %d counted as hub-c heard from: last heard %v, was %v", i, got, heard)
		}
		f, taken, err := q.ShadowHeartbeatFailed("hub-c", started, timeout, 2, other.Error())
		if errors.Is(err, ErrAnsweredSince) {
			t.Fatalf("heartbeat %d refused here counted as answered: %v", i, err)
		}
		if taken > 0 {
			break
		}
		if i == 3 {
			t.Fatalf("hub-c's copy not taken over after %d refused heartbeats (failures %d, %v)", i, f, err)
		}
	}
	if got, _ := q.Message(cc.ID); got == nil || got.State == Shadow {
		t.Fatalf("hub-c's copy: %+v; want taken over", got)
	}
	if got, _ := q.Message(ca.ID); got == nil || got.State != Shadow {
		t.Fatalf("hub-a's copy (the owner of the id): %+v; want still held", got)
	}
}
