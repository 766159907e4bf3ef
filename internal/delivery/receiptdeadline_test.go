package delivery

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// SR-17, SR-16 (shadow45 item 3): with command_timeout under the try's
// bound (receiptTry, 10 s) the push's session deadline ran out first, on
// a peer that took the session and hangs: the try's error was a plain
// i/o timeout, not smtp.ErrCopyTimedOut, so a second session was opened
// to the same hung server (a second wait for the sender) and no hungAt
// was recorded (the next receipts waited on it again). The session's
// deadline run out is the peer's silence as the bound is: one session,
// ErrCopyTimedOut, hungAt — in a batch and alone.
func TestSR17SessionDeadlineBeforeTryBoundIsATimedOutTry(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 5 * time.Second // the bound, well past the session's deadline
	for _, c := range []struct {
		name string
		port int
		ehlo []string
	}{
		{"batch (verbs 6)", 39550, []string{"XSHADOW 6", "PIPELINING", "CHUNKING", "8BITMIME"}},
		{"alone (verbs 3)", 39600, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testsupport.StartHub(t, testsupport.AddrInRange(t, "127.0.0.170", c.port, 50), testsupport.HubScript{HangAtMail: true, EHLO: c.ehlo})
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.170:9449"},
					{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: b.Addr()}},
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
				Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
				CommandTimeout: 300 * time.Millisecond, DataTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			r := NewReceiptShadow(d, "db-a")
			defer r.Close()
			link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
			if err != nil {
				t.Fatal(err)
			}
			m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
				Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
			start := time.Now()
			err = link.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")))
			took := time.Since(start)
			link.Done(err == nil)
			if b.Mails.Load() == 0 {
				t.Fatal("the push never reached the peer's MAIL: the test proves nothing")
			}
			if took >= receiptTry {
				t.Fatalf("the push took %v: the try's bound ran out first, the test proves nothing", took)
			}
			if !errors.Is(err, smtp.ErrCopyTimedOut) {
				t.Errorf("push to a peer hung past command_timeout: %v; want smtp.ErrCopyTimedOut", err)
			}
			if n := b.Count(); n != 1 {
				t.Errorf("the hung peer had %d sessions; want 1 (no second session to a server that hangs)", n)
			}
			if _, hung := r.hungAt.Load(mailaddr.NameKey("hub-b")); !hung {
				t.Error("no hungAt recorded for the server that hung: the next copies wait on it again")
			}
		})
	}
}

// SR-17 (shadow45 item 3, sibling): the hand-over before the 250 of the
// discards owed to a server that may hold a copy (handMayHoldDiscards,
// bound receiptDiscardPush, 2 s) to a server that hangs at XDISCARD,
// with command_timeout under that bound: the session's deadline ran out
// first and no hungAt was recorded — only the bound's running out did —
// so every next receipt waited on that server again. It is marked hung.
func TestSR17DiscardHandOverSessionDeadlineMarksServerHung(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = 5 * time.Second // the bound, well past the session's deadline
	b := testsupport.StartHub(t, testsupport.AddrInRange(t, "127.0.0.170", 9800, 50),
		testsupport.HubScript{EHLO: []string{"XSHADOW 20", "8BITMIME"}, HangAtXDiscard: true})
	cAddr, _ := copyPeer(t, testsupport.AddrInRange(t, "127.0.0.170", 9850, 50), "250 2.0.0 kept")
	r, q, m := recopyWaitingTimeout(t, "7", 4, 300*time.Millisecond,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.Addr()},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cAddr})
	// hub-b may hold the copy (a push to it unconfirmed); hub-c keeps
	// it: hub-b is owed its discard.
	if _, err := q.RecopyPushing(m.ID, "hub-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RecopyPushing(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if err := q.ShadowRecopiedOrg(m.ID, m.OrgID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.handMayHoldDiscards(context.Background(), q, m.ID, m.OrgID, "hub-c", "before the reply")
	if took := time.Since(start); took >= receiptDiscardPush {
		t.Fatalf("the hand-over took %v: its bound ran out first, the test proves nothing", took)
	}
	if b.Count() == 0 {
		t.Fatal("no session to hub-b: the test proves nothing")
	}
	if !r.hungLately("hub-b") {
		t.Error("hub-b, silent at XDISCARD past command_timeout, is not marked as a server that hung: the next receipts wait on it again")
	}
}
