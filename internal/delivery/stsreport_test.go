package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// TLS reports count sessions (RFC 8460 §4.3; rt18a F4): a failed
// policy fetch is counted once per session it left without a policy, or
// blocked, never per fetch — so route explain, which asks for the
// policy and may fetch it, changes no report, and a REQUIRETLS message
// deferred for the failure counts one failure per host it was kept from
// per attempt.
func TestSTSFetchFailureCountedPerSession(t *testing.T) {
	w := stsWorld(t, "enforce")
	w.sts.mu.Lock()
	delete(w.sts.policies, "sts.test") // the policy host answers 404
	w.sts.mu.Unlock()
	ex := w.eng.Explain(context.Background(), "sts.test", "opportunistic", w.port)
	if ex.STSFailure == nil || w.sts.fetches != 1 {
		t.Fatalf("route explain: fetch failure %+v, %d fetches", ex.STSFailure, w.sts.fetches)
	}
	if got := w.rep.list(); len(got) != 0 {
		t.Fatalf("route explain changed the TLS report: %q", got)
	}

	cert := w.ca.issue(t, "mx1.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, true)
	for i := range 2 {
		m := message("a@sts.test")
		m.ID += queue.ID(i)
		m.RequireTLS = true
		if r := w.deliver(m); r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 REQUIRETLS: ") {
			t.Fatalf("REQUIRETLS with the policy not fetched: %+v", r)
		}
		w.clk.Advance(6 * time.Minute) // past the fetch's pause: fetched again, failing again
	}
	if len(mx.received()) != 0 {
		t.Fatal("REQUIRETLS mail sent without a verifying policy")
	}
	want := []string{"sts.test sts mx1.sts.test sts-policy-fetch-error", "sts.test sts mx1.sts.test sts-policy-fetch-error"}
	if got := w.rep.list(); !slices.Equal(got, want) {
		t.Fatalf("reports %q, want one per blocked session %q", got, want)
	}

	// A message that may go without the policy: its one session counts
	// the failed fetch, not a success without a policy.
	if r := w.deliver(message("b@sts.test")); r.Outcome != queue.RelayedOK || len(mx.received()) != 1 {
		t.Fatalf("plain message with the policy not fetched: %+v", r)
	}
	if got := w.rep.list(); len(got) != 3 || got[2] != "sts.test sts mx1.sts.test sts-policy-fetch-error" {
		t.Fatalf("reports %q", got)
	}
}

// A host of two addresses is one host: a REQUIRETLS message kept from it
// by a failed policy fetch counts one failure per attempt, not one per
// address (README: "once for each host"; review of fixa18).
func TestSTSFetchFailureCountedOncePerHost(t *testing.T) {
	w := newTLSWorld(t, append(strings.Split(stsRecords, "\n"), "mx1.sts.test. 300 IN A 127.0.0.3")...)
	for _, a := range []string{"127.0.0.2", "127.0.0.3"} {
		cert := w.ca.issue(t, "mx1.sts.test")
		startMX(t, fmt.Sprintf("%s:%d", a, w.port), &cert, true)
	}
	// No policy is served (404): the fetch fails.
	m := message("a@sts.test")
	m.RequireTLS = true
	if r := w.deliver(m); r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 REQUIRETLS: ") {
		t.Fatalf("REQUIRETLS with the policy not fetched: %+v", r)
	}
	want := []string{"sts.test sts mx1.sts.test sts-policy-fetch-error"}
	if got := w.rep.list(); !slices.Equal(got, want) {
		t.Fatalf("reports %q, want one for the one host %q", got, want)
	}
}
