package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// SR-16 (rcptmark45 item 1): a candidate whose disk stalled answers
// sessions — greeting, EHLO, XSHADOW, heartbeats, probes — and never
// answers a copy. Its push ran out of the bound and marked it under its
// name and address only, which the next answered heartbeat (or session)
// cleared: every later receipt pushed to it first again and waited the
// whole bound (16 of 18 in the outside check). A push that ran out of
// its bound keeps the server passed over until a push to it is
// confirmed, whatever else it answers, and it is probed once a minute.
func TestSR16HungPushKeepsServerPassedOverThoughSessionsAnswer(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	b := testsupport.StartHub(t, "127.0.0.197:18501", testsupport.HubScript{HangAtMail: true})
	c := testsupport.StartHub(t, "127.0.0.197:18502", testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.197:18500"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: b.Addr()},
			{Name: "hub-c", Role: routing.RoleHub, Site: "a", Address: c.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	health := queue.NewHealth()
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
		CommandTimeout: time.Hour, DataTimeout: time.Hour, Health: health})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	r.now = func() time.Time { return time.Unix(0, now.Load()) }
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	body := queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n"))
	// first is the server each receipt's first push went to.
	receipt := func() (first string, err error) {
		link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
		if err != nil {
			return "", err
		}
		err = link.Push(context.Background(), m, body)
		link.Done(err == nil)
		return link.Server(), err
	}
	hung := false
	for i := 0; i < 2 && !hung; i++ { // the rotation reaches hub-b within two
		first, err := receipt()
		if first == "hub-b" {
			if !errors.Is(err, smtp.ErrCopyTimedOut) {
				t.Fatalf("push to the stalled hub-b: %v, want ErrCopyTimedOut", err)
			}
			hung = true
		} else if err != nil {
			t.Fatalf("push to %s: %v", first, err)
		}
	}
	if !hung {
		t.Fatal("no receipt pushed to hub-b")
	}
	// Its heartbeat answers (shadowsession.go: Responsive under its
	// name and address), as the stalled peer's did.
	health.Responsive("hub-b", b.Addr())
	if !health.Unhealthy(copiesKey("hub-b")) {
		t.Fatalf("after a hung push and an answered heartbeat hub-b is not marked for copies (marks %v)", func() []string { k, _ := health.Marks(); return k }())
	}
	mails := b.Mails.Load()
	for i := 0; i < 4; i++ {
		first, err := receipt()
		if first != "hub-c" || err != nil {
			t.Fatalf("receipt %d after hub-b hung went to %s first (%v), want hub-c: the stalled server is not passed over", i, first, err)
		}
	}
	if n := b.Mails.Load(); n != mails {
		t.Fatalf("hub-b got %d pushes within the minute after it hung, want none", n-mails)
	}
	// A minute on, one copy probes it in its normal place: first when
	// the rotation puts it first (a minute more when it did not).
	for i := 0; i < 2 && b.Mails.Load() == mails; i++ {
		now.Add(int64(receiptProbe + time.Second))
		receipt()
	}
	if n := b.Mails.Load(); n != mails+1 {
		t.Fatalf("hub-b got %d pushes in two minutes after it hung, want 1 (the probe)", n-mails)
	}
}
