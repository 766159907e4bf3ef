package console

import (
	"testing"

	"umbra/internal/queue"
)

// OPS-5 (errtext44): the map reads "not reached" as the queue's DSN does
// (queue.NotReached): umbra's own words that it could not connect to the
// recipient's next hop — not the enhanced status code alone. A next hop
// that answered with a 4.4.1 or 4.4.4 of its own (a relay's reply about
// a host beyond it, in any words) or that umbra refused by TLS policy
// after connecting was reached; a refused connection to it, umbra's "no
// host reachable" for a destination, was not.
func TestOPS5MapNotReachedIsTheQueuesReading(t *testing.T) {
	const hop = "hub2.example.org[127.0.0.2]:25"
	for _, c := range []struct {
		name, hop, reply string
		reached          bool
	}{
		{"refused connection", hop, "451 4.4.1 connect to " + hop + ": dial tcp 127.0.0.2:25: connect: connection refused", false},
		{"connect timeout", hop, "451 4.4.1 connect to " + hop + ": dial tcp 127.0.0.2:25: i/o timeout", false},
		{"REQUIRETLS form of a refused connection", hop, "451 4.4.1 REQUIRETLS: no server of site:west offered verified TLS: 451 4.4.1 connect to " + hop + ": dial tcp 127.0.0.2:25: connect: connection refused", false},
		{"no host of a destination", "example.net", "451 4.4.1 no host reachable", false},
		{"no address for a destination", "example.net", "451 4.4.4 no address for any host of example.net", false},
		{"a relay's reply naming a host beyond it", hop, "451 4.4.1 connect to mx.far.example[192.0.2.9]:25: dial tcp 192.0.2.9:25: connect: connection refused", true},
		{"a relay's own no host reachable", hop, "451 4.4.1 no host reachable", true},
		{"a relay's own 4.4.1", hop, "451 4.4.1 Unable to reach the next hop, try later", true},
		{"a relay's own 4.4.4", hop, "451 4.4.4 no route to far.example", true},
		{"a relay's own 4.4.3", hop, "451 4.4.3 directory server failure", true},
		{"refused by TLS policy after connecting", hop, "451 4.7.5 " + hop + ": STARTTLS refused: 454 4.7.0 TLS not available", true},
		{"REQUIRETLS refusal after connecting", hop, "451 4.7.5 REQUIRETLS: no verified TLS to " + hop + ": certificate not valid for hub2.example.org", true},
		{"hosts that answered and refused the content", hop, "451 4.4.1 not sent to the hosts tried: 554 5.6.1 " + hop + ": 8-bit content not taken", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := NewHealth(nil)
			h.Event("defer", &queue.Message{ID: 1}, &queue.Recipient{NextHop: c.hop}, c.reply)
			reached := !h.LastContact(hopKeys(c.hop)...).IsZero()
			if reached != c.reached {
				t.Errorf("%q at %s: reached %v on the map; want %v", c.reply, c.hop, reached, c.reached)
			}
			if got := !queue.NotReached(c.reply, c.hop, ""); got != c.reached {
				t.Errorf("%q at %s: queue.NotReached says reached %v; want %v", c.reply, c.hop, got, c.reached)
			}
		})
	}
}
