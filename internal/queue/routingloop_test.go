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
		if !destFailure(tc.reply, hop, "") {
			t.Errorf("%s: a restart does not show the destination failing", tc.name)
		}
	}
	destinationShownFailing(t, &hungDotHost{calls: map[string]int{}, reply: SelfRelayReply(hop)})
}

// Q-6 (rr deliv45): after a restart a destination's health is read from
// its recipients' last replies (destFailure) as the live signal reads
// them — against the host each names: a relay's own 451 4.4.1 about a
// host beyond it, and hosts tried that answered (NotSentReply), are
// answers, not failures shown as `failing`; umbra's words on a host it
// could not reach still are. Before, the reply was read with no host,
// and every 4.4.x counted as umbra's.
func TestQ6RestartReadsLastReplyAgainstItsHost(t *testing.T) {
	const hop = "relay.example[192.0.2.1]:25"
	for _, tc := range []struct {
		name, reply string
		failure     bool
	}{
		{"a relay's own 4.4.1", "451 4.4.1 Unable to reach the next hop, try later", false},
		{"hosts tried that answered", NotSentReply("550 5.6.3 " + hop + " does not support 8BITMIME"), false},
		{"umbra's refused connection", "451 4.4.1 connect to " + hop + ": dial tcp 192.0.2.1:25: connect: connection refused", true},
	} {
		if got := destFailure(tc.reply, hop, ""); got != tc.failure {
			t.Errorf("%s: destFailure %v, want %v", tc.name, got, tc.failure)
		}
	}
}
