package delivery

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// rt55 F3: copies queued behind a batch to a peer that hangs are not
// then pushed to that same peer as the next batch (a second bound for
// their senders, and a copy left on the hung peer): the batch's timeout
// answers them too, as a timed-out try, and the receive side moves
// each to the next candidate.
func TestReceiptCopiesQueuedBehindHungBatchNotSentToIt(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	defer func(n int) { maxInflight = n }(maxInflight)
	maxInflight = 1
	// A shadow server of verbs version 6 (batches) that hangs at the
	// first MAIL of each session.
	b := testsupport.StartHub(t, "127.0.0.2:0", testsupport.HubScript{HangAtMail: true,
		EHLO: []string{"XSHADOW 6", "PIPELINING", "CHUNKING", "8BITMIME"}})
	bAddr, mails := b.Addr(), &b.Mails
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: bAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	open := func() smtp.ReceiptLink {
		link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
		if err != nil {
			t.Fatal(err)
		}
		return link
	}
	l1, l2 := open(), open()
	msg := func(id queue.ID, org string) *queue.Message {
		return &queue.Message{ID: id, OrgID: org, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	}
	body := queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n"))
	first := make(chan error, 1)
	go func() { first <- l1.Push(context.Background(), msg(1, "0123456789abcdef0123456789abcdef"), body) }()
	deadline := time.Now().Add(10 * time.Second)
	for mails.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if mails.Load() != 1 {
		t.Fatal("the first batch never reached the peer")
	}
	err2 := l2.Push(context.Background(), msg(2, "fedcba9876543210fedcba9876543210"), body) // queued behind the first
	err1 := <-first
	l1.Done(false)
	l2.Done(false)
	if !errors.Is(err1, smtp.ErrCopyTimedOut) || !errors.Is(err2, smtp.ErrCopyTimedOut) {
		t.Fatalf("pushes: %v / %v; want both ErrCopyTimedOut", err1, err2)
	}
	if n := mails.Load(); n != 1 {
		t.Fatalf("the hung peer read %d MAIL commands; want 1 (the copy queued behind its batch sent to it again)", n)
	}
	// rcpt43 item 2: the batch's copy went to the peer with its data and
	// may be held there; the one queued behind it never left here.
	if !l1.(smtp.ReceiptLinkMayHold).MayHold() || l2.(smtp.ReceiptLinkMayHold).MayHold() {
		t.Errorf("may hold: the batch's copy %v, the one queued behind %v; want true, false",
			l1.(smtp.ReceiptLinkMayHold).MayHold(), l2.(smtp.ReceiptLinkMayHold).MayHold())
	}
}
