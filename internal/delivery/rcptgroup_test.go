package delivery

import (
	"context"
	"fmt"
	"net"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// Ten recipients for one next hop go in one pipelined transaction (one
// MAIL, ten RCPTs, one body), and each gets its own result from the one
// final reply, in recipient order.
func TestPipelinedTenRecipientsOneTransaction(t *testing.T) {
	s := &scripted{pipelining: true}
	addr := s.start(t)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.3"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
	var rcpts []string
	for i := 0; i < 10; i++ {
		rcpts = append(rcpts, fmt.Sprintf("r%d@example.net", i))
	}
	m := message(rcpts...)
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != len(rcpts) {
		t.Fatalf("%d results for %d recipients: %+v", len(res), len(rcpts), res)
	}
	for k, r := range res {
		if r.Rcpt != k || r.Outcome != queue.RelayedOK || r.Reply != "250 2.0.0 queued" {
			t.Fatalf("result %d: %+v", k, r)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mails != 1 || len(s.rcpts) != len(rcpts) || !s.finished || s.body != string(body) {
		t.Fatalf("server: %d MAIL, rcpts %v, finished %v", s.mails, s.rcpts, s.finished)
	}
	for k, a := range s.rcpts {
		if a != rcpts[k] {
			t.Fatalf("RCPT %d was %q, want %q", k, a, rcpts[k])
		}
	}
}
