package delivery

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"umbra/internal/queue"
)

// rt18d F3 (RFC 8460 §4.3): an MX host an enforced MTA-STS policy does
// not list is never connected to; each delivery attempt that passes it
// over counts one failed session (validation-failure) for it — the
// session that attempt would have made, as a host that fails its
// session counts once per attempt. Nothing else counts it: not route
// explain, not a second look within the attempt, not a message the
// pooled session to a listed host carries.
func TestSTSUnlistedMXCountedOncePerAttempt(t *testing.T) {
	w := stsWorld(t, "enforce")
	w.dns.Remove("sts.test")
	w.dns.Add(t, "sts.test. 300 IN MX 10 mx2.sts.test.") // not listed: never connected to
	w.dns.Add(t, "sts.test. 300 IN MX 20 mx1.sts.test.") // listed; down at first
	w.eng.Explain(context.Background(), "sts.test", "opportunistic", w.port)
	for i := range 2 {
		m := message("a@sts.test")
		if r := w.deliver(m); r.Outcome != queue.Deferred {
			t.Fatalf("attempt %d with the listed host down: %+v", i, r)
		}
	}
	skipped := "sts.test sts mx2.sts.test validation-failure"
	if got, want := w.rep.list(), []string{skipped, skipped}; !slices.Equal(got, want) {
		t.Fatalf("after two attempts: reports %q, want %q", got, want)
	}

	// The listed host is up: the attempt delivers through it, and still
	// passed the unlisted one over once; the next message, carried by
	// the pooled session, passes nothing over.
	cert := w.ca.issue(t, "mx1.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	for i := range 2 {
		m := message("b@sts.test")
		m.ID += queue.ID(1 + i)
		if r := w.deliver(m); r.Outcome != queue.RelayedOK {
			t.Fatalf("message %d with the listed host up: %+v", i, r)
		}
	}
	if len(mx.received()) != 2 {
		t.Fatalf("listed host received %d", len(mx.received()))
	}
	want := []string{skipped, skipped, skipped, "sts.test sts mx1.sts.test success"}
	if got := w.rep.list(); !slices.Equal(got, want) {
		t.Fatalf("reports %q, want %q", got, want)
	}
}

// A host is counted, not its addresses (RFC 8460 §4.3 counts sessions;
// one attempt would make one to the host): an unlisted MX host of four
// addresses passed over counts one validation-failure per attempt, as a
// host of one does (mendr19 item 5).
func TestSTSUnlistedMXOfSeveralAddressesCountedOnce(t *testing.T) {
	w := stsWorld(t, "enforce")
	w.dns.Remove("sts.test")
	w.dns.Remove("mx2.sts.test")
	w.dns.Add(t, "sts.test. 300 IN MX 10 mx2.sts.test.") // not listed: never connected to
	w.dns.Add(t, "sts.test. 300 IN MX 20 mx1.sts.test.") // listed; down
	for _, a := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"} {
		w.dns.Add(t, "mx2.sts.test. 300 IN A "+a)
	}
	if r := w.deliver(message("a@sts.test")); r.Outcome != queue.Deferred {
		t.Fatalf("attempt with the listed host down: %+v", r)
	}
	want := []string{"sts.test sts mx2.sts.test validation-failure"}
	if got := w.rep.list(); !slices.Equal(got, want) {
		t.Fatalf("reports %q, want one for the one host %q", got, want)
	}
}
