package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A REQUIRETLS message kept from its MX host by the TLS requirement (a
// certificate the enforced MTA-STS policy rejects: 451 4.7.5
// REQUIRETLS: …), whose later attempts find the host not even
// answering, fails at expiry with 550 5.7.10, not 5.4.7: TLS was the
// obstacle (RFC 8689 §4.2.1; README, REQUIRETLS). The deferrals after
// the first keep the REQUIRETLS form.
func TestRequireTLSExpiryAfterTLSThenConnectFailure(t *testing.T) {
	w := stsWorld(t, "enforce")
	bad := w.ca.issue(t, "other.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &bad, true)
	ev := &eventRecorder{}
	logs := &lockedBuffer{}
	q := queue.NewManager(w.store, w.d, queue.ManagerConfig{Hostname: "umbra.test", MaxActive: 4, Events: ev,
		RetrySchedule: []time.Duration{50 * time.Millisecond}, RetryJitter: 0, MessageExpiration: 2 * time.Second,
		Scheduler: queue.SchedulerConfig{DeadCoolDown: 100 * time.Millisecond},
		Log:       slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := &queue.Message{ID: q.NewID(), From: "", RequireTLS: true, Rcpts: []queue.Recipient{{Addr: "a@sts.test"}}}
	if err := q.Submit(ctx, m, body); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	for !ev.has("defer 451 4.7.5 REQUIRETLS: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no REQUIRETLS deferral: %q\n%s", ev.events, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mx.srv.Close() // from now on the host refuses the connection
	for !ev.has("fail ") {
		if time.Now().After(deadline) {
			t.Fatalf("the message did not expire: %q\n%s", ev.events, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ev.mu.Lock()
	events := append([]string(nil), ev.events...)
	ev.mu.Unlock()
	connectFailed := false
	for _, e := range events {
		// (A dead destination's deferral names its own last error; the
		// recipient keeps its own last reply meanwhile.)
		if strings.HasPrefix(e, "defer ") && strings.Contains(e, "connect to") && !strings.Contains(e, " is dead ") {
			connectFailed = true
			// The attempt's own status (4.4.1: the destination did not
			// answer, as the scheduler must count it), with the mark.
			if !strings.HasPrefix(e, "defer 451 4.4.1 REQUIRETLS: ") {
				t.Errorf("a later deferral lost the REQUIRETLS form: %q", e)
			}
		}
		if strings.HasPrefix(e, "fail ") && !strings.HasPrefix(e, "fail 550 5.7.10 ") {
			t.Errorf("expiry %q, want 550 5.7.10", e)
		}
	}
	if !connectFailed {
		t.Fatalf("no attempt found the host closed: %q", events)
	}
	if len(mx.received()) != 0 {
		t.Fatal("REQUIRETLS mail sent over unverified TLS")
	}
}

// The same when the later attempt does not even come to a host: its MX
// lookup fails. A message without REQUIRETLS keeps the plain reply.
func TestRequireTLSDeferralKeptWhenDNSFailsLater(t *testing.T) {
	w := stsWorld(t, "enforce")
	w.dns.Fail("sts.test")
	for _, requireTLS := range []bool{true, false} {
		m := message("a@sts.test")
		m.RequireTLS = requireTLS
		m.Rcpts[0].LastReply = "451 4.7.5 REQUIRETLS: no host of connector:internet/sts.test offered verified TLS: 451 4.7.5 mx1.sts.test[127.0.0.2]:25: STARTTLS not offered"
		r := w.deliver(m)
		if r.Outcome != queue.Deferred || strings.Contains(r.Reply, "STARTTLS") {
			t.Fatalf("REQUIRETLS %v, MX lookup failing: %+v", requireTLS, r)
		}
		if got := strings.HasPrefix(r.Reply, "451 4.4.3 REQUIRETLS: "); got != requireTLS {
			t.Errorf("REQUIRETLS %v: reply %q", requireTLS, r.Reply)
		}
	}
}
