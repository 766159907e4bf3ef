package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17 (receipt48 item 3): the question a restart leaves of a copy on
// receipt a stop cut short (receiptpushasked) is open for the takeover
// bound only. A holder below shadow verbs 23 is never asked (XQUERYKEPT
// is not offered), and one that answers but cannot be asked leaves it
// open too: it stayed open with no time limit, the message shown with
// its copy confirmed on a server never asked. Past the bound with no
// answer, the message is marked as the README says for an unconfirmed
// push — "push cut", the server one that may hold the copy (MayHold:
// not held by this server only) — and its copy is made again.
func TestSR17PushAskedOfOldVerbsHolderEndsAtTakeoverBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
	q := NewManager(s, nop, ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID, m.PushOnReceipt = "hub-old", m.OrgID, true
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	s.Close() // the crash: the push's outcome never recorded

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, nop, ManagerConfig{Clock: clk})
	const bound = 3 * 30 * time.Second // shadow_heartbeat_timeout × retries
	q.SetPushAskBound(bound)
	if _, _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	// hub-old, of shadow verbs 22, is never asked: no ShadowKeptAnswer.
	clk.Advance(bound - time.Second)
	if list, _ := q.SingleCopies(); len(list) != 0 {
		t.Fatalf("marked before the takeover bound: %+v", list)
	}
	if server, ok := q.PushAskedOf(m.ID); !ok || server != "hub-old" {
		t.Fatalf("question of hub-old before the bound: %q, %v; want open", server, ok)
	}
	clk.Advance(time.Second)
	list, err := q.SingleCopies()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != m.ID || list[0].Lost != "hub-old" || list[0].How != HowPushCut || !list[0].MayHold {
		t.Fatalf("past the takeover bound: marks %+v; want %s marked push cut on hub-old, a copy that may exist there", list, m.ID)
	}
	if _, ok := q.PushAskedOf(m.ID); ok {
		t.Fatal("the question stays open past its bound")
	}
}
