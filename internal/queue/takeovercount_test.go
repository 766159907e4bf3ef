package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, OPS (receipt48 item 5): every takeover counts in
// umbra_shadow_takeovers_total (ManagerConfig.Takeovers), whichever path
// made it — a restored primary's XQUERYTAKENDONE naming the database it
// was restored from, a push presenting a new database id, a rolled-back
// database seen in a shadow session's mark — once each, with its
// messages: the two paths added last logged the WARN summary but left
// the counter where it was, and an alert on the counter missed them.
func TestSR7EveryTakeoverPathCounts(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var counted []int
	sS := openTest(t)
	qS := NewManager(sS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, Takeovers: func(n int) { mu.Lock(); counted = append(counted, n); mu.Unlock() }})
	expect := func(path string, want ...int) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(counted) != len(want) {
			t.Fatalf("%s: takeovers counted %v; want %v", path, counted, want)
		}
		for i := range want {
			if counted[i] != want[i] {
				t.Fatalf("%s: takeovers counted %v; want %v", path, counted, want)
			}
		}
	}

	c := receiptCopy(sS, "x@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	if got := qS.TakenOverFor("hub-a", "dbA2", "dbA", 10); len(got) != 1 {
		t.Fatalf("listed %+v, want the copy taken over", got)
	}
	expect("a restored primary's question", 1)
	// Asked again: nothing more is taken over, nothing counted.
	qS.TakenOverFor("hub-a", "dbA2", "dbA", 10)
	expect("the question asked again", 1)

	c2 := receiptCopy(sS, "y@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c2, []byte(body), "hub-b", "127.0.0.2:25", "dbB"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	c3 := receiptCopy(sS, "z@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c3, []byte(body), "hub-b", "127.0.0.2:25", "dbB2"); err != nil || !stored {
		t.Fatalf("copy on receipt under the new database: %v, %v", stored, err)
	}
	expect("a push under a new database id", 1, 1)

	c4 := receiptCopy(sS, "w@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c4, []byte(body), "hub-c", "127.0.0.3:25", "dbC"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	if _, _, err := qS.ShadowMarkSeen("hub-c", "dbC", 8, qS.ShadowMarkFloor("hub-c")); err != nil {
		t.Fatal(err)
	}
	if rolled, n, err := qS.ShadowMarkSeen("hub-c", "dbC", 3, qS.ShadowMarkFloor("hub-c")); err != nil || !rolled || n != 1 {
		t.Fatalf("rollback: %v %d %v", rolled, n, err)
	}
	expect("a rolled-back database", 1, 1, 1)
}
