package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// Q-3, SR-11: an LMTP transaction of a job whose every recipient was
// refused at RCPT, on a server that opens DATA all the same (rt39's: RFC
// 2033 wants 503), ends its session (smtp pipeline.go: no reply awaited
// for the dot, the session closed). A recipient of the same job that
// waited for its mailbox's turn meanwhile is not sent on that closed
// session — a connection umbra closed itself, its recipient deferred as
// if the server had broken it — but delivered on a session of its own.
func TestQ3TurnAfterASessionClosedForADataWithoutRecipients(t *testing.T) {
	s := &turnLMTP{listen: "127.0.0.222:15401", gate: make(chan struct{}), gateAddr: "u@example.test"}
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
	a.ID = 0xA2
	aDone := make(chan []queue.Result, 1)
	go func() { aDone <- d.Deliver(context.Background(), a, body, all(a)) }()
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
	b := message("bad@example.test", "u@example.test")
	b.ID = 0xB2
	reports := make(chan []queue.Result, 4)
	ctx := queue.WithGroupReport(context.Background(), func(res []queue.Result) { reports <- res })
	bDone := make(chan []queue.Result, 1)
	go func() { bDone <- d.Deliver(ctx, b, body, all(b)) }()
	select {
	case <-reports: // bad@'s transaction ended; u@ waits for its turn
	case res := <-bDone:
		t.Fatalf("the job ended while u@ waited for its mailbox: %+v", res)
	case <-time.After(10 * time.Second):
		t.Fatal("no report of bad@'s transaction while u@ waits for its mailbox's turn")
	}
	release()
	var res []queue.Result
	select {
	case res = <-bDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the second message's job did not end")
	}
	if r := <-aDone; len(r) != 1 || r[0].Outcome != queue.DeliveredOK {
		t.Fatalf("the first message: %+v", r)
	}
	got := map[string]queue.Result{}
	for _, r := range res {
		got[b.Rcpts[r.Rcpt].Addr] = r
	}
	if r := got["bad@example.test"]; r.Outcome != queue.FailedPerm {
		t.Errorf("bad@: %v %q, want its 550", r.Outcome, r.Reply)
	}
	if r := got["u@example.test"]; r.Outcome != queue.DeliveredOK {
		t.Errorf("u@, whose mailbox's turn came: %v %q, want delivered on a session of its own", r.Outcome, r.Reply)
	}
	s.mu.Lock()
	stored := s.stored["u@example.test"]
	s.mu.Unlock()
	if stored != 2 {
		t.Errorf("u@ stored %d messages, want 2", stored)
	}
}
