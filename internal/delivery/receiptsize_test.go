package delivery

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// SR-17, RFC 1870: a shadow server's own SIZE limits the copies sent to
// it, as a next hop's limits what delivery sends (hopSizeRefusal). A
// copy over it is not pushed there — no session is spent on it, no MAIL
// goes out — and the server is not marked failing (it answers; smaller
// copies still go to it): the next candidate takes the copy, and with
// none left the receive connector's shadow-failure rule decides, before
// the commit (ErrNoShadowServer, the reply naming the limit).
func TestReceiptCopyOverPeerSizeGoesToNextCandidate(t *testing.T) {
	small := testsupport.StartHub(t, "127.0.0.2:0", testsupport.HubScript{EHLO: []string{"XSHADOW 3", "8BITMIME", "SIZE 100"}, DataReply: "250 2.0.0 kept"})
	big := testsupport.StartHub(t, "127.0.0.3:0", testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: small.Addr()},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: big.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 4, ShadowRetriesLocal: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	body := queue.MemBody([]byte("Subject: x\r\n\r\n" + strings.Repeat("x", 200) + "\r\n"))
	size := copyLimitSize(d.st.Load(), m, body)
	// Each turn of the rotation would put hub-b first once in two.
	for i := range 4 {
		l, err := r.OpenFor(context.Background(), config.ShadowOnReceiptPreferRemote, m, body, false)
		if err != nil {
			t.Fatal(err)
		}
		if l.Server() != "hub-c" {
			t.Fatalf("copy %d of %d bytes went to %s, whose SIZE is 100", i, size, l.Server())
		}
		err = l.Push(context.Background(), m, body)
		l.Done(err == nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := small.Mails.Load(); n != 0 {
		t.Errorf("hub-b was sent %d MAIL commands for copies over its SIZE", n)
	}
	if d.health.Unhealthy(copiesKey("hub-b")) || d.health.Unhealthy("hub-b", small.Addr()) {
		t.Error("hub-b marked failing for a copy it was never sent")
	}
	// A copy under the limit still goes there.
	tiny := queue.MemBody([]byte("S: x\r\n\r\nhi\r\n"))
	tm := &queue.Message{ID: 2, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	sawB := false
	for range 4 {
		l, err := r.OpenFor(context.Background(), config.ShadowOnReceiptPreferRemote, tm, tiny, false)
		if err != nil {
			t.Fatal(err)
		}
		sawB = sawB || l.Server() == "hub-b"
		l.Done(true)
	}
	if !sawB {
		t.Error("a copy under hub-b's SIZE never chose hub-b")
	}
	// Only hub-b a candidate (its site only, from hub-c's): no copy.
	rc := NewReceiptShadow(d, "db-a")
	defer rc.Close()
	_, err = rc.openSized(context.Background(), config.ShadowOnReceiptPreferRemote, map[string]bool{"hub-c": true}, false, size)
	if !errors.Is(err, ErrNoShadowServer) || !strings.Contains(err.Error(), "552 5.3.4") {
		t.Fatalf("only hub-b left: %v; want no shadow server, naming its SIZE", err)
	}
}

// rt17e-F2 (SR-17, RFC 1870): a shadow server's SIZE read on a pooled
// session may be older than its limit: a reload raised it while the
// session stayed open. A copy over the pooled session's SIZE is
// confirmed on a fresh session before the server is passed over; and
// when every candidate refused for size only, the error says so
// (ErrCopyTooLarge, the largest limit), for a permanent 552 5.3.4.
func TestReceiptCopyOverStalePooledSizeTriesAFreshSession(t *testing.T) {
	limit := &atomic.Int64{}
	limit.Store(100)
	hub := testsupport.StartHub(t, "127.0.0.2:0", testsupport.HubScript{EHLO: []string{"XSHADOW 3", "8BITMIME"}, Size: limit, DataReply: "250 2.0.0 kept"})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"}, {Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: hub.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	tiny := queue.MemBody([]byte("S: x\r\n\r\nhi\r\n"))
	tm := &queue.Message{ID: 2, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	l, err := r.OpenFor(context.Background(), config.ShadowOnReceiptLocalOnly, tm, tiny, false)
	if err != nil {
		t.Fatal(err)
	}
	l.Done(true) // pooled, its SIZE 100
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	body := queue.MemBody([]byte("Subject: x\r\n\r\n" + strings.Repeat("x", 200) + "\r\n"))
	// Still 100: every candidate refused for size only.
	_, err = r.OpenFor(context.Background(), config.ShadowOnReceiptLocalOnly, m, body, false)
	var tl *smtp.CopyTooLargeError
	if !errors.As(err, &tl) || tl.Limit != 100 || !errors.Is(err, ErrNoShadowServer) {
		t.Fatalf("over every candidate's SIZE: %v; want a copy too large for SIZE 100", err)
	}
	limit.Store(1 << 20) // the peer's reload
	l, err = r.OpenFor(context.Background(), config.ShadowOnReceiptLocalOnly, m, body, false)
	if err != nil {
		t.Fatalf("after the peer raised its SIZE: %v; want the copy taken on a fresh session", err)
	}
	l.Done(true)
}
