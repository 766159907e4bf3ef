package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17, OPS (receipt48 item 2): a message whose push on receipt got no
// reply once its copy may have reached the server (the 250's "shadow
// copy unconfirmed: one may exist on NAME", result may_hold) is not held
// by this server only, and nothing an operator reads says it is: the
// tracking event is "copy-unconfirmed", not "single-copy"; the mark
// lists it MayHold (shadow single's section of its own); and it counts
// in UnconfirmedCopyCount (umbra_shadow_unconfirmed_copy_messages), not
// in HeldOnlyCount (umbra_shadow_single_copy_messages). A copy refused
// (nothing stored there) stays a single copy in each.
func TestSR17UnconfirmedCopyIsNoSingleCopy(t *testing.T) {
	s := openTest(t)
	ev, eventsOf := eventIDs()
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)), Events: ev})
	submit := func() *Message {
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
		if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	noReply, refused := submit(), submit()
	if err := q.MarkSingleCopy(noReply.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(refused.ID, "hub-b", "hub-b: 452 4.3.1 Insufficient system storage"); err != nil {
		t.Fatal(err)
	}
	single, unconfirmed := eventsOf("single-copy"), eventsOf("copy-unconfirmed")
	if len(single) != 1 || single[0] != refused.ID {
		t.Errorf("single-copy events of %v; want only the refused copy's, %s", single, refused.ID)
	}
	if len(unconfirmed) != 1 || unconfirmed[0] != noReply.ID {
		t.Errorf("copy-unconfirmed events of %v; want the unanswered push's, %s", unconfirmed, noReply.ID)
	}
	list, err := q.SingleCopies()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range list {
		if want := sc.ID == noReply.ID; sc.MayHold != want {
			t.Errorf("mark of %s: MayHold %v, want %v", sc.ID, sc.MayHold, want)
		}
	}
	if n := q.UnconfirmedCopyCount(); n != 1 {
		t.Errorf("UnconfirmedCopyCount = %d, want 1", n)
	}
	if n := q.HeldOnlyCount(); n != 1 {
		t.Errorf("HeldOnlyCount = %d, want 1 (the refused copy only)", n)
	}
}
