package queue

import "testing"

// Q-6 (rd deliv45): a REQUIRETLS message whose recipient waited before
// on its TLS requirement carries the REQUIRETLS form on every later
// deferral of no host (delivery's requireTLSCarry, requireTLSDefer):
// "451 4.4.6 REQUIRETLS: no host of DEST offered verified TLS: <the
// loop's words>", its status the inner reply's own. The inner reply
// decides as it does bare — the configuration's loop is counted as no
// contact (0) and shown as the destination's failure, hosts tried that
// answered (NotSentReply) are no failure after a restart —, as
// NotReached already reads the inner reply. Before, the wrapped loop
// was counted −1, a failed contact (a window of one made the
// destination dead after one message, the defect TestQ6RoutingLoopShownNotCounted
// fixed for the bare words), and the wrapped NotSentReply showed its
// destination failing after a restart.
func TestQ6RequireTLSFormReadsTheInnerReply(t *testing.T) {
	const hop = "umbra.test[127.0.0.193]:46511"
	const none = "no host of smarthost:out"
	loop := LoopsBackReply("mail for loop.test loops back to myself: next hop "+hop+" is an address this server listens on", "out")
	wrapped := RequireTLSReply("451 4.4.6", none, loop)
	if !RoutingLoop(wrapped, hop) {
		t.Errorf("%q against %s: not read as the routing loop", wrapped, hop)
	}
	res := []Result{{Outcome: Deferred, NextHop: hop, Reply: wrapped}}
	if fb := feedback(res); fb != 0 {
		t.Errorf("the loop in the REQUIRETLS form: feedback %d, want 0 (no failed contact)", fb)
	}
	if _, ok := arrivedFailure(res); !ok {
		t.Errorf("the loop in the REQUIRETLS form: not shown as the destination's failure")
	}
	notSent := RequireTLSReply("451 4.4.1", none, NotSentReply("554 5.6.1 "+hop+": 8-bit content not taken"))
	if !HostsAnswered(notSent, hop) {
		t.Errorf("%q against %s: not read as hosts that answered", notSent, hop)
	}
	if destFailure(notSent, hop, "") {
		t.Errorf("%q: a restart shows its destination failing, hosts that answered", notSent)
	}
}
