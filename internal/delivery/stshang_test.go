package delivery

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// TestHungPolicyFetchIsBoundedAndNamed: the MTA-STS policy host
// (HTTPS) accepts connections and never answers. The delivery does not
// wait beyond the fetch bound, and the deferral of a message that needs
// the policy (REQUIRETLS) says the policy fetch hung, naming the host
// and port.
func TestHungPolicyFetchIsBoundedAndNamed(t *testing.T) {
	l := testsupport.Silent(t, "127.0.0.1:0") // accepted, never answered
	w := newTLSWorld(t, `_mta-sts.hang.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.hang.test. 300 IN A 127.0.0.1",
		"hang.test. 300 IN MX 10 mx1.hang.test.", "mx1.hang.test. 300 IN A 127.0.0.2")
	httpsPort, _ := strconv.Atoi(portOf(l.Addr()))
	w.httpsPort, w.fetchTimeout = httpsPort, 500*time.Millisecond
	w.build(t, config.TLSOpportunistic, false, true)
	cert := w.ca.issue(t, "mx1.hang.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, true)

	m := message("a@hang.test")
	m.RequireTLS = true
	done := make(chan queue.Result, 1)
	go func() { done <- w.deliver(m) }()
	var r queue.Result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second): // a bound on the test: the fetch gives up after 0.5 s
		t.Fatal("the delivery hung with the policy fetch")
	}
	port := fmt.Sprint(w.httpsPort)
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") || !strings.Contains(r.Reply, "mta-sts.hang.test") ||
		!strings.Contains(r.Reply, port) || !strings.Contains(r.Reply, "did not answer") {
		t.Fatalf("REQUIRETLS with the policy host hung: %+v; want a deferral naming the fetch from mta-sts.hang.test port %s that did not answer", r, port)
	}
	if len(mx.received()) != 0 {
		t.Fatal("REQUIRETLS message sent without a verified hop")
	}
	// Without REQUIRETLS the hung fetch costs the bound once, then the
	// connector's setting applies.
	if r := w.deliver(message("b@hang.test")); r.Outcome != queue.RelayedOK {
		t.Fatalf("%+v", r)
	}
}
