package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17 (rcpt43 item 4): a push of a copy on receipt that got no reply
// from its server (the connection lost, or the try's bound run out,
// once the copy was sent) marks the message held by this server only
// saying what happened — no reply, the server may store the copy —, in
// the views and in the single-copy event's reason, not that the copy
// "was lost": nothing says it was, and the server gets its discard when
// the copy is made elsewhere.
func TestSR17NoReplyMarkSaysNoReply(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok {
		t.Fatal("no mark")
	}
	text := sc.String()
	if sc.How != HowNoReply || sc.Lost != "hub-b" || strings.Contains(text, "copy on hub-b was lost") || !strings.Contains(text, "no reply") {
		t.Errorf("mark %+v reads %q; want what befell it said as no reply from hub-b, not a copy lost", sc, text)
	}
	if us := q.UnconfirmedPushes(m.ID); len(us) != 1 || us[0].Server != "hub-b" {
		t.Errorf("unconfirmed pushes %+v; want hub-b, which may hold the copy", us)
	}
}
