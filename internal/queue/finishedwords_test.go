package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-4, SR-6 (shadowout48 F4 of an outside check): what a recipient
// finished by the shadow server that took its copy over says — the
// finished-elsewhere event and message show's reply — is what that server
// did as far as this one knows. Its note says DELIVERED (to a mailbox
// there), FAILED (bounced there), or RELAYED: handed on, out of the
// organisation or to another transport server, which this server cannot
// tell apart; "relayed by hub-b.test" was said of mail hub-b delivered
// to its final destination. RELAYED now reads "finished by", with what
// is known.
func TestFinishedElsewhereSaysWhatTheHolderDid(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	const org = "0123456789abcdef0123456789abcdef"
	o := msg(pS, "s@example.org", "a@x.example", "b@x.example", "c@x.example", "d@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b.test", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	notes := []TakenDone{
		{ID: org, Addr: "a@x.example", Kind: TakenDelivered},
		{ID: org, Addr: "b@x.example", Kind: TakenRelayed},
		{ID: org, Addr: "c@x.example", Kind: TakenFailed},
	}
	if out, _, err := qP.ShadowFinishedElsewhere("hub-b.test", notes); err != nil || len(out) == 0 {
		t.Fatalf("the notes applied: %d (%v)", len(out), err)
	}
	got, err := qP.Message(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a@x.example": "250 2.0.0 delivered by hub-b.test, which took the copy over",
		"b@x.example": "250 2.0.0 finished by hub-b.test, which took the copy over and handed it on from there (out of the organisation or to another transport server)",
		"c@x.example": "550 5.0.0 failed on hub-b.test, which took the copy over (a DSN, if one is owed, comes from there)",
	}
	for _, r := range got.Rcpts {
		w, ok := want[r.Addr]
		if !ok {
			continue
		}
		if r.LastReply != w {
			t.Errorf("%s: %q, want %q", r.Addr, r.LastReply, w)
		}
		if strings.Contains(r.LastReply, "relayed by") || strings.Contains(r.LastReply, "while this server was away") {
			t.Errorf("%s: %q says more than the note does", r.Addr, r.LastReply)
		}
	}
}
