package queue

import "testing"

// Q-6 (rr deliv45, a sibling of rt44 delivery2 F4): a next hop that is
// this server itself — one that answered a shadow session with this
// server's own database id (delivery's selfRelay), or smart hosts that
// are all addresses this server listens on, never connected to — is a
// loop of the configuration, not a host that did not answer. Its
// deferral (451 4.4.6, in umbra's words naming the host) was counted
// −1 as a failed contact: a window of one made the destination dead
// after one message, its other mail answered by the dead mark. It is
// counted as no contact (0) and shown as the destination's failure
// (messageFailure: `queue destinations` failing, the loop its last
// error), live and after a restart (destFailure); the words are the
// constructors' (SelfRelayReply, LoopsBackReply), read back by
// RoutingLoop, and the same words naming another host are that
// host's.
func TestQ6RoutingLoopShownNotCounted(t *testing.T) {
	const hop = "mx.hung.test[192.0.2.9]:25"
	for _, tc := range []struct {
		name, reply string
		loop        bool
	}{
		{"a shadow session presenting this server's database", SelfRelayReply(hop), true},
		{"smart hosts all this server", LoopsBackReply("mail for hung.test loops back to myself: next hop "+hop+" is an address this server listens on", "out"), true},
		{"another host's words", SelfRelayReply("other.test[192.0.2.10]:25"), false},
	} {
		if got := RoutingLoop(tc.reply, hop); got != tc.loop {
			t.Errorf("%s: RoutingLoop %v, want %v", tc.name, got, tc.loop)
		}
		if !tc.loop {
			continue
		}
		res := []Result{{Outcome: Deferred, NextHop: hop, Reply: tc.reply}}
		if fb := feedback(res); fb != 0 {
			t.Errorf("%s: feedback %d, want 0 (no failed contact)", tc.name, fb)
		}
		if _, ok := arrivedFailure(res); !ok {
			t.Errorf("%s: not shown as the destination's failure", tc.name)
		}
		if !destFailure(tc.reply, hop) {
			t.Errorf("%s: a restart does not show the destination failing", tc.name)
		}
	}
	destinationShownFailing(t, &hungDotHost{calls: map[string]int{}, reply: SelfRelayReply(hop)})
}
