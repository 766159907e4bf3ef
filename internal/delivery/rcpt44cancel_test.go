package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// rcpt44IP is the loopback address of the rcpt44 tests (ports
// 7000-7999).
const rcpt44IP = "127.0.0.150"

// SR-17 (rcpt44 item 3): a made-again pass cut by this server's stop
// (its context cancelled) while hub-b takes the push and has not
// answered yet — well within the try's bound — is no push that hub-b
// did not answer in time: hub-b did nothing wrong, and is not marked as
// a server that hung (hungLately: the discards owed to it would not be
// handed before a 250 for a minute after the restart's first pushes),
// nor failed in destination health; the pass's error is the stop's, not
// smtp.ErrCopyTimedOut.
func TestSR17RecopyCutByTheStopMarksNoServerHung(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = time.Hour // hub-b's own silence never runs the bound out here
	b := testsupport.StartHub(t, testsupport.AddrInRange(t, rcpt44IP, 7000, 100), testsupport.HubScript{HangAtMail: true})
	r, q, m := recopyWaiting(t, "1", routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.Addr()})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// Cancelled once hub-b read the MAIL it never answers: the stop
	// cuts the push under way.
	go func() {
		for deadline := time.Now().Add(10 * time.Second); b.Mails.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		stop()
	}()
	srv, err := r.Recopy(ctx, q, m.ID, nil)
	if srv != "" || err == nil {
		t.Fatalf("made again on %q (%v); want no server: the stop cut the only push", srv, err)
	}
	if b.Mails.Load() == 0 {
		t.Fatal("hub-b never read the push's MAIL: the test proves nothing")
	}
	if errors.Is(err, smtp.ErrCopyTimedOut) {
		t.Errorf("pass cut by the stop ended with %v: read as hub-b not answering in time", err)
	}
	if r.hungLately("hub-b") {
		t.Error("hub-b is marked as a server that hung, though only this server's stop cut its push")
	}
	if r.d.health.Unhealthy("hub-b", b.Addr()) {
		t.Error("hub-b is marked failed in destination health, though only this server's stop cut its push")
	}
}

// SR-17 (rcpt44 item 3, sibling): the hand-over of the discards owed to
// a server that may hold a copy (handMayHoldDiscards) cut by the
// caller's end — a receive session or a made-again pass ended by the
// stop — before its own bound marks no server hung: only that bound run
// out by the server's silence does (here hub-b accepts the connection
// and never greets).
func TestSR17DiscardHandOverCutByTheStopMarksNoServerHung(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = time.Hour
	ln, err := net.Listen("tcp", testsupport.AddrInRange(t, rcpt44IP, 7100, 100))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never written to
		}
	}()
	defer func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	}()
	cAddr, _ := copyPeer(t, testsupport.AddrInRange(t, rcpt44IP, 7200, 100), "250 2.0.0 kept")
	r, q, m := recopyWaiting(t, "2", routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: ln.Addr().String()},
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
	owed := false
	for _, u := range q.UnconfirmedPushes(m.ID) {
		owed = owed || (u.Server == "hub-b" && u.DiscardOwed)
	}
	if !owed {
		t.Fatalf("unconfirmed pushes %+v: no discard owed to hub-b; the test proves nothing", q.UnconfirmedPushes(m.ID))
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	heldc := make(chan net.Conn, 1)
	go func() {
		var held net.Conn
		select {
		case held = <-accepted: // the hand-over's session waits for hub-b's greeting
		case <-time.After(10 * time.Second):
		}
		heldc <- held
		stop()
	}()
	r.handMayHoldDiscards(ctx, q, m.ID, m.OrgID, "hub-c", "before the reply")
	held := <-heldc
	if held == nil {
		t.Fatal("no session to hub-b: the test proves nothing")
	}
	held.Close()
	if r.hungLately("hub-b") {
		t.Error("hub-b is marked as a server that hung, though only the caller's end cut the hand-over")
	}
}

// SR-17 (rcpt44 item 2, sibling): a copy made again whose push got no
// reply once its data was sent (hub-b closes the session after the
// data's end) fails with smtp.CopyMayBeHeldError naming hub-b: the
// receive session whose message left meanwhile says hub-b may hold the
// copy, not that none was needed. A push hub-b answered (a 421 at MAIL)
// left nothing there: no such error.
func TestSR17RecopyUnansweredAfterDataSaysServerMayHold(t *testing.T) {
	for i, c := range []struct {
		fault   string
		mayHold bool
	}{{testsupport.FaultDotEOF, true}, {testsupport.FaultMail421, false}} {
		t.Run(c.fault, func(t *testing.T) {
			b := testsupport.StartHub(t, testsupport.AddrInRange(t, rcpt44IP, 7300+100*i, 100), testsupport.HubScript{Fault: c.fault})
			r, q, m := recopyWaiting(t, fmt.Sprint(3+i), routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.Addr()})
			srv, err := r.Recopy(context.Background(), q, m.ID, nil)
			if srv != "" || err == nil {
				t.Fatalf("made again on %q (%v); want no server: hub-b's push failed", srv, err)
			}
			if b.Faults.Load() == 0 {
				t.Fatal("hub-b's fault never struck: the test proves nothing")
			}
			var mh *smtp.CopyMayBeHeldError
			held := errors.As(err, &mh)
			if held != c.mayHold || held && (len(mh.Servers) != 1 || mh.Servers[0] != "hub-b") {
				t.Errorf("error %v (may be held: %v %+v); want may be held on hub-b: %v", err, held, mh, c.mayHold)
			}
		})
	}
}
