package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// Q-3 (rt39 F3): the recipients of an LMTP transaction that ended while
// others of the same job wait for their mailbox's turn are reported to
// the queue then (queue.ReportGroup: committed, and known to a delay
// notice made meanwhile), as the job will return them — its queue, its
// database and the server's name as next hop — not only when the job
// ends: a delay DSN made while the job waited listed a recipient stored
// with 250 as "no host has replied yet".
func TestQ3LMTPTurnResultsReportedBeforeTheJobEnds(t *testing.T) {
	s := &turnLMTP{listen: "127.0.0.161:9112", gate: make(chan struct{}), gateAddr: "u@example.test"}
	addr := s.start(t)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: addr})
	released := false
	release := func() {
		if !released {
			released = true
			close(s.gate)
		}
	}
	defer release()
	a := message("u@example.test")
	a.ID = 0xA1
	aDone := make(chan struct{})
	go func() { d.Deliver(context.Background(), a, body, all(a)); close(aDone) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		busy := s.inFlight["u@example.test"] == 1
		s.mu.Unlock()
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first message's transaction did not begin")
		}
		time.Sleep(2 * time.Millisecond)
	}
	b := message("v@example.test", "u@example.test")
	b.ID = 0xB1
	reports := make(chan []queue.Result, 4)
	ctx := queue.WithGroupReport(context.Background(), func(res []queue.Result) { reports <- res })
	bDone := make(chan []queue.Result, 1)
	go func() { bDone <- d.Deliver(ctx, b, body, all(b)) }()
	var early []queue.Result
	select {
	case early = <-reports:
	case res := <-bDone:
		t.Fatalf("the job ended while its other recipient waited for its mailbox: %+v", res)
	case <-time.After(10 * time.Second):
		t.Fatal("no report of v@'s transaction while u@ waits for its mailbox's turn")
	}
	release()
	var final []queue.Result
	select {
	case final = <-bDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the second message's job did not end")
	}
	<-aDone
	if len(early) != 1 || early[0].Rcpt != 0 || early[0].Outcome != queue.DeliveredOK {
		t.Fatalf("reported early %+v, want v@ delivered", early)
	}
	for _, r := range final {
		if e := early[0]; r.Rcpt == 0 && (r.Outcome != e.Outcome || r.Reply != e.Reply || r.NextHop != e.NextHop || r.Queue != e.Queue || r.Database != e.Database) {
			t.Errorf("reported early %+v, but the job returned %+v for it", early[0], r)
		}
	}
	if len(final) != 2 {
		t.Errorf("the job returned %+v, want both recipients", final)
	}
}
