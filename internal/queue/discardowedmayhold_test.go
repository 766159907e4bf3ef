package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17, OPS: a message held here after its copy was refused, whose
// earlier pushes got no confirmation and whose discards those servers
// have not fetched yet, may still have a copy there: shadow single lists
// such servers "also pushed, unconfirmed" and puts the message in its
// section of unconfirmed copies (README), so the gauges, the mark and
// the tracking event say the same — it counts in UnconfirmedCopyCount,
// not HeldOnlyCount, its mark is MayHold and its event copy-unconfirmed.
func TestSR17DiscardOwedCopyIsUnconfirmed(t *testing.T) {
	s := openTest(t)
	ev, eventsOf := eventIDs()
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)), Events: ev})
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil { // no reply: hub-b may hold it
		t.Fatal(err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil { // hub-b owed its discard
		t.Fatal(err)
	}
	if up := q.UnconfirmedPushes(m.ID); len(up) != 1 || up[0].Server != "hub-b" || !up[0].DiscardOwed {
		t.Fatalf("unconfirmed pushes %+v; want hub-b, its discard owed", up)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-c", "hub-c: 452 4.3.1 Insufficient system storage"); err != nil {
		t.Fatal(err)
	}
	if single := eventsOf("single-copy"); len(single) != 0 {
		t.Errorf("single-copy events of %v; hub-b may hold a copy of %s", single, m.ID)
	}
	list, err := q.SingleCopies()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].MayHold {
		t.Errorf("marks %+v; want %s MayHold", list, m.ID)
	}
	if n := q.UnconfirmedCopyCount(); n != 1 {
		t.Errorf("UnconfirmedCopyCount = %d, want 1", n)
	}
	if n := q.HeldOnlyCount(); n != 0 {
		t.Errorf("HeldOnlyCount = %d, want 0", n)
	}
}

// eventIDs records the ids of the messages each event names: ev for
// ManagerConfig.Events, of for the ids of one event's name.
func eventIDs() (ev eventsFunc, of func(name string) []ID) {
	var mu sync.Mutex
	events := map[string][]ID{}
	ev = func(name string, m *Message, r *Recipient, reply string) {
		mu.Lock()
		events[name] = append(events[name], m.ID)
		mu.Unlock()
	}
	return ev, func(name string) []ID {
		mu.Lock()
		defer mu.Unlock()
		return append([]ID(nil), events[name]...)
	}
}
