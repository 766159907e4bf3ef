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

// SR-17 (rdshadow45; shadow45 item 2's fix, rcpt43 item 2): a push
// whose MAIL the peer refused (452) and which then hangs is a timed-out
// try since shadow45 item 2 — no refusal, hungAt — but the refusal it
// quotes still says what the server kept: nothing. A peer of version 5
// keeps a copy all or nothing, a batch likewise, and a transaction whose
// MAIL was refused holds no copy (the client joins that refusal to the
// loss after it, pushone.go and batch.go: "the refusal says so, not the
// reply lost after it"). Quoted with %v, the refusal no longer showed:
// the push, its data sent in the envelope's write, read as one that may
// have left the copy there (mayHoldAfter): the server counted as one
// that may hold it, owed its discard, named in the held-here WARN — and,
// when its watch session is open, waited for before the 250. So when
// the bound ran out, and when the session's command_timeout did first.
func TestSR17RefusedThenHungPushHoldsNothing(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	for _, c := range []struct {
		name          string
		port          int
		ehlo          []string
		bound, cmdOut time.Duration
	}{
		{"batch, bound", 46100, []string{"XSHADOW 6", "PIPELINING", "CHUNKING", "8BITMIME"}, 300 * time.Millisecond, time.Hour},
		{"one trip, bound", 46150, []string{"XSHADOW 5", "PIPELINING", "CHUNKING", "8BITMIME"}, 300 * time.Millisecond, time.Hour},
		{"batch, command_timeout", 46200, []string{"XSHADOW 6", "PIPELINING", "CHUNKING", "8BITMIME"}, 5 * time.Second, 300 * time.Millisecond},
		{"one trip, command_timeout", 46250, []string{"XSHADOW 5", "PIPELINING", "CHUNKING", "8BITMIME"}, 5 * time.Second, 300 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			receiptTry = c.bound
			b := testsupport.StartHub(t, testsupport.AddrInRange(t, "127.0.0.192", c.port, 50), testsupport.HubScript{Fault: testsupport.FaultMail452Hang, EHLO: c.ehlo})
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.192:16499"},
					{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: b.Addr()}},
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
				Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
				CommandTimeout: c.cmdOut, DataTimeout: c.cmdOut})
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
			err = link.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")))
			mayHold := link.(*receiptLink).MayHold()
			link.Done(err == nil)
			if b.Faults.Load() == 0 {
				t.Fatal("the peer never refused a MAIL: the test proves nothing")
			}
			if !errors.Is(err, smtp.ErrCopyTimedOut) || refusedCopy(err) {
				t.Fatalf("push refused at MAIL, then hung: %v; want a timed-out try (shadow45 item 2), the test proves nothing", err)
			}
			if _, hung := r.hungAt.Load(mailaddr.NameKey("hub-b")); !hung {
				t.Fatal("no hungAt: the test proves nothing")
			}
			if mayHold || mayHoldAfter(err) {
				t.Errorf("push whose MAIL was refused, then hung: %v; taken for one that may have left the copy there (MayHold %v), though the refusal says nothing was kept", err, mayHold)
			}
		})
	}
}
