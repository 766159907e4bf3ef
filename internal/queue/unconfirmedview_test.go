package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt20a F3: every server a copy on receipt was pushed to without
// confirmation is listed, not only the first — while the message is
// held by this server only (named in its mark: may hold a copy) and
// after the copy was made elsewhere (its discard owed, not fetched
// yet); the server holding the confirmed copy is not among them, and a
// discard fetched takes its server off the list.
func TestUnconfirmedPushesListsEveryServerTried(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if got := q.UnconfirmedPushes(m.ID); len(got) != 0 {
		t.Fatalf("copy on hub-b not in doubt: %+v; want none", got)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RecopyPushing(m.ID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	got := q.UnconfirmedPushes(m.ID)
	if len(got) != 2 || got[0] != (UnconfirmedPush{"hub-b", false}) || got[1] != (UnconfirmedPush{"hub-d", false}) {
		t.Fatalf("held here only after two unconfirmed pushes: %+v; want hub-b and hub-d, no discard owed yet", got)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	got = q.UnconfirmedPushes(m.ID)
	if len(got) != 2 || got[0] != (UnconfirmedPush{"hub-b", true}) || got[1] != (UnconfirmedPush{"hub-d", true}) {
		t.Fatalf("copied on hub-c: %+v; want hub-b and hub-d with their discards owed", got)
	}
	// hub-b fetched its discard: only hub-d is left in doubt.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeleteDiscards("hub-b", []string{m.OrgID}) }); err != nil {
		t.Fatal(err)
	}
	if got = q.UnconfirmedPushes(m.ID); len(got) != 1 || got[0] != (UnconfirmedPush{"hub-d", true}) {
		t.Fatalf("after hub-b's discard was fetched: %+v; want hub-d alone", got)
	}
}
