package delivery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SPEC Q-6 (rt44 delivery2 F4): a next hop that answers MAIL with a 4xx
// of its own — "451 4.4.2 too busy" — and keeps its session answered:
// its reply defers that message, and is no failed contact of its
// destination. Before, three such replies (one with a window of one)
// made the destination dead, `queue destinations` showed it failing
// and dead, its mail answered by the dead mark without a connection.
func TestQ6HostsOwn4xxToMailIsNoDestinationFailure(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		port        int
		// deferred: what each deferral says; conns: the connections
		// the three messages take (a stray reply ends its session).
		deferred string
		conns    int
	}{
		{"451 4.4.2 to MAIL", "451 4.4.2 too busy, try later", 37451, "451 4.4.2 too busy, try later", 1},
		{"451 4.7.5 to MAIL", "451 4.7.5 its own policy, try later", 37453, "451 4.7.5 its own policy, try later", 1},
		{"450 4.4.1 to MAIL", "450 4.4.1 no answer from the host beyond", 37455, "450 4.4.1 no answer from the host beyond", 1},
		// A stray 3xx where a 2xx, 4xx or 5xx belongs: umbra ends the
		// session, as after a reply out of step, but the host answered.
		{"stray 354 to MAIL", "354 go ahead", 37457, "451 4.4.2 127.0.0.160[127.0.0.160]:37457: unexpected reply", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hop := startFaultHopAt(t, fmt.Sprintf("127.0.0.160:%d", tc.port), false)
			hop.mu.Lock() // read by its sessions under the lock
			hop.mailReply = tc.reply
			hop.mu.Unlock()
			r := startFaultRigOn(t, "127.0.0.160", fmt.Sprintf("127.0.0.160:%d", tc.port+1), hop, 1, 5*time.Second, 5*time.Second, time.Hour)
			for i := range 3 {
				r.submit(t, fmt.Sprintf("busy%d@remote.test", i))
				for r.countEvents("defer ") < i+1 {
					r.waitEvent(t, "defer ")
					time.Sleep(5 * time.Millisecond)
				}
			}
			if n := r.countEvents("defer " + tc.deferred); n != 3 {
				t.Errorf("%d deferrals quote the host's own reply, want 3 (each message tried): %q", n, r.ev.events)
			}
			for _, e := range r.ev.events {
				if strings.Contains(e, "is dead") {
					t.Errorf("the host's own reply made its destination dead: %q", e)
				}
			}
			for _, di := range r.q.Destinations() {
				if di.State == "dead" || di.State == "failing" || di.Failures > 0 {
					t.Errorf("destination %s after the host's own %q: state %q, %d failures in a row, last error %q; want answered, not failing",
						di.Name, tc.reply, di.State, di.Failures, di.LastError)
				}
			}
			if hop.connections() != tc.conns {
				t.Errorf("%d connections, want %d (a session the host kept carries the next messages)", hop.connections(), tc.conns)
			}
		})
	}
}

// SPEC Q-6, Q-3 (rr deliv45, a sibling of rt44 delivery2 F4): MX hosts
// that answered and were passed over for the content (no 8BITMIME for
// an 8-bit message), the attempt cut by mx_address_limit before the
// others, defer the message "451 4.4.1 not sent to the hosts tried:
// <refusal>", recorded against the host that refused — umbra's
// content refusal names that host, so the scheduler read the deferral
// as umbra's 4.4.x words on a host it could not reach: a failed
// contact, toward a dead destination, of hosts that answered. The
// result says the hosts answered (Answered), and its words, the
// constructor's (queue.NotSentReply), are read so after a restart.
func TestQ6HostsThatAnsweredNotSentIsNoFailedContact(t *testing.T) {
	hop := startFaultHopAt(t, "127.0.0.160:7491", false)
	hop.mu.Lock() // read by its sessions under the lock
	hop.no8bit = true
	hop.mu.Unlock()
	dns := &fakeDNS{mx: map[string][]*net.MX{"remote.test": {{Host: "m0.remote.test.", Pref: 10}, {Host: "m1.remote.test.", Pref: 20}}},
		hosts: map[string][]string{"m0.remote.test": {"127.0.0.160"}, "m1.remote.test": {"127.0.0.160"}}}
	sc := mxConnector(hop.port())
	sc.TLS = config.TLSNone
	sc.MXAddressLimit = 1
	d := newDeliverer(t, dns, config.Mailbox{}, sc)
	t.Cleanup(d.Close)
	m := message("x@remote.test")
	res := d.Deliver(context.Background(), m, []byte("Subject: caf\xc3\xa9\r\n\r\ncaf\xc3\xa9\r\n"), all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.1 not sent to the hosts tried: ") {
		t.Fatalf("results %+v, want the deferral of hosts tried that did not take the content", res)
	}
	r := res[0]
	if !r.Answered {
		t.Errorf("%q against %s: not marked as hosts that answered", r.Reply, r.NextHop)
	}
	if !queue.HostsAnswered(r.Reply, r.NextHop) {
		t.Errorf("%q against %s: its words are not read as hosts that answered", r.Reply, r.NextHop)
	}
}
