package delivery

import (
	"fmt"
	"strings"
	"testing"
	"time"
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
			hop.mailReply = tc.reply
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
