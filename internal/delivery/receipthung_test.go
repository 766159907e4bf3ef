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

// rt43 observation 1: a copy pushed to a peer that took the session and
// then hangs (SIGSTOP) is not tried again on a new session to the same
// hung server — that cost the sender a second bound and ended with no
// copy although other servers answered at once. The push fails after
// its one try with smtp.ErrCopyTimedOut, which the receive side takes,
// as a refusal, for a failed try: the next candidate gets the copy.
func TestReceiptCopyTimedOutIsNotRetriedOnTheSameServer(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	b := testsupport.StartHub(t, "127.0.0.2:0", testsupport.HubScript{HangAtMail: true})
	bAddr := b.Addr()
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
	link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	err = link.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")))
	link.Done(err == nil)
	if !errors.Is(err, smtp.ErrCopyTimedOut) {
		t.Fatalf("push to a hung peer: %v, want ErrCopyTimedOut", err)
	}
	if n := b.Count(); n != 1 {
		t.Fatalf("the hung peer had %d sessions, want 1 (no second try on it)", n)
	}
}
