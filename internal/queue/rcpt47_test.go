package queue

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17 (rcpt47 item 2): whether the discard of a copy is owed to a
// server that may hold it is read from the database; a read that fails
// (the database closed under it, an I/O error) is no answer. It read as
// "not owed": the receipt then handed that server nothing before its
// 250 (HandLeftDiscards skips a server owed nothing), and a wait for
// its watch session's fetch ended as though the server had fetched the
// discard — this server killed after the 250 left the server free to
// take its copy over and deliver the message a second time. A failed
// read is taken as owed (the hand-over is tried, the wait is not taken
// for a fetch), and logged with the error.
func TestSR17OrgDiscardOwedReadFailureIsOwed(t *testing.T) {
	s := openTest(t)
	logs := &lockedBuffer{}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)), Log: slog.New(slog.NewTextHandler(logs, nil))})
	org := strings.Repeat("0", 31) + "7"
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.AddDiscard("hub-b", org, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	if !q.OrgDiscardOwed(org, "hub-b") {
		t.Fatal("the discard added is not owed: the test proves nothing")
	}
	end := q.WatchOpened("hub-b") // hub-b's watch session is open here
	defer end()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !q.OrgDiscardOwed(org, "hub-b") {
		t.Error("a read of the database that failed answered \"not owed\": the discard is handed to no one before the 250")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if q.AwaitOrgDiscardFetched(ctx, org, "hub-b") {
		t.Error("a read of the database that failed ended the wait as though hub-b had fetched its discard")
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "discard is owed failed") || !strings.Contains(out, "shadow_server=hub-b") {
		t.Errorf("log:\n%s\nwant the failed read at WARN, naming the server", out)
	}
}

// SR-17 (rcpt47 item 1, the mark's words): a push on receipt that got
// no reply once its copy was sent marks the message so that its copy
// is made again, and the mark's reason — the views, the "single-copy"
// event — says a copy may exist on that server, not that the message is
// held by this server only: nothing says it is.
func TestSR17NoReplyMarkSaysCopyMayExist(t *testing.T) {
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
	if text := sc.String(); strings.HasPrefix(text, "held by this server only") || !strings.Contains(text, "a copy may exist on hub-b") {
		t.Errorf("mark reads %q; want it to say a copy may exist on hub-b, not that the message is held by this server only", text)
	}
}

// SR-17 (rcpt47 item 1, sibling): a push on receipt that a stop cut
// short before its outcome was recorded (HowPushCut, marked at the
// restart) is no more known to have failed than one that got no reply:
// the server may well have stored the copy, and taken it over since. Its
// mark's reason said "held by this server only since"; it says a copy
// may exist on that server, as the no-reply mark's does.
func TestSR17PushCutMarkSaysCopyMayExist(t *testing.T) {
	for _, how := range []string{HowPushCut, HowNoReply} {
		sc := SingleCopy{ID: 1, Lost: "hub-b", Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), How: how}
		if text := sc.String(); strings.HasPrefix(text, "held by this server only") || !strings.Contains(text, "a copy may exist on hub-b") || strings.Contains(text, "lost") && how == HowPushCut {
			t.Errorf("%s: mark reads %q; want it to say a copy may exist on hub-b, not that the message is held by this server only", how, text)
		}
	}
}

// SR-17 (rcpt47 item 2, sibling): the servers owed a made-again copy's
// discard before the 250 (UnconfirmedPushesOrg) are read from the
// database too. A read that fails names no one, and no server can be
// named in its place: it is not silent any more — logged at WARN with
// the message, so the operator knows that discards may not have been
// handed before a reply (their servers fetch them at their next
// contact).
func TestSR17UnconfirmedPushesReadFailureLogged(t *testing.T) {
	s := openTest(t)
	logs := &lockedBuffer{}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)), Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	q.UnconfirmedPushesOrg(7, strings.Repeat("0", 31)+"8")
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "unconfirmed pushes") || !strings.Contains(out, "msg_id=") {
		t.Errorf("log:\n%s\nwant the failed read at WARN, naming the message", out)
	}
}
