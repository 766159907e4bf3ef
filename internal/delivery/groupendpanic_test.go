package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// OPS-2: a panic in what a group of several does after its
// delivery returned (its results' bookkeeping, on a goroutine of its
// own outside the queue's recover) is recovered: that group's
// recipients are deferred with queue.PanicReply, the other group's
// results stand, the panic is counted (part "delivery"), and the
// daemon goes on. Seen to fail first: the test binary died of the panic.
func TestPanicAfterAGroupOfSeveralIsRecovered(t *testing.T) {
	groupEndSeam = func(key string) {
		if strings.Contains(key, "example.net") {
			panic("test seam: after the group of " + key)
		}
	}
	defer func() { groupEndSeam = nil }()
	s := &scripted{}
	addr := startScriptedMany(t, s)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}},
		"example.org": {{Host: "mx.example.org.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.1"}, "mx.example.org": {"127.0.0.1"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
	pc := &panicCount{}
	d.SetPanics(pc)
	m := message("a@example.net", "b@example.org")
	out := d.Deliver(context.Background(), m, body, all(m))
	res := byRcpt(m, out)
	if r := res["a@example.net"]; r.Outcome != queue.Deferred || r.Reply != queue.PanicReply {
		t.Errorf("the group that panicked: %v %q; want deferred with %q", r.Outcome, r.Reply, queue.PanicReply)
	}
	if r := res["b@example.org"]; r.Outcome != queue.RelayedOK {
		t.Errorf("the other group: %v %q; want relayed", r.Outcome, r.Reply)
	}
	if len(out) != 2 {
		t.Errorf("%d results, want 2", len(out))
	}
	if pc.count("delivery") != 1 {
		t.Errorf("panics counted: %v; want delivery 1", pc.n)
	}
}
