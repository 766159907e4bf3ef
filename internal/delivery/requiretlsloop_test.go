package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// Q-6 (rd deliv45): a smart host that is this server itself defers a
// REQUIRETLS message whose recipient waited before on its TLS
// requirement in the REQUIRETLS form (requireTLSCarry): "451 4.4.6
// REQUIRETLS: no host of … offered verified TLS: 451 4.4.6 mail for …
// loops back to myself: …". The queue reads it as the configuration's
// loop (queue.RoutingLoop: no failed contact, shown as the
// destination's failure), as it reads the bare words — before, the
// wrapped words were umbra's 4.4.x on a host it could not reach, a
// failed contact toward a dead destination, and nothing is connected
// to.
func TestQ6SmartHostLoopOfARequireTLSMessageIsTheLoop(t *testing.T) {
	ln := testsupport.Listen(t, "127.0.0.193:16511")
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	sh := config.SendConnector{Name: "smart", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{ln.Addr().String()}, TLS: config.TLSNone}
	d := newDeliverer(t, &fakeDNS{mx: map[string][]*net.MX{}, hosts: map[string][]string{}}, config.Mailbox{}, sh)
	t.Cleanup(d.Close)
	d.st.Load().cfg.OwnBindings = []string{ln.Addr().String()}
	m := message("u@loop.test")
	m.RequireTLS = true
	m.Rcpts[0].LastReply = queue.RequireTLSReply("451 4.7.5", "no host of smarthost:smart", "451 4.7.5 relay.test[192.0.2.7]:25: STARTTLS not offered")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.6") ||
		!strings.Contains(res[0].Reply, queue.RequireTLSMark) || !strings.Contains(res[0].Reply, "loops back to myself") {
		t.Fatalf("results %+v, want the loop's deferral in the REQUIRETLS form", res)
	}
	if !queue.RoutingLoop(res[0].Reply, res[0].NextHop) {
		t.Errorf("%q against %q: not read as the routing loop (the scheduler counts it a failed contact)", res[0].Reply, res[0].NextHop)
	}
	select {
	case <-accepted:
		t.Errorf("this server's own address was connected to")
	default:
	}
}
