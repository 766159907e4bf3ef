package delivery

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
)

// SPEC Q-3 (delay DSN beside a running attempt): a next hop that
// answered the session's opening and then stopped answering inside a
// transaction — at a RCPT, or after taking the whole message, its reply
// to the final dot never coming — was reported by the delay notice
// made meanwhile as "no host … has replied yet (its first attempt is
// under way)", Status 4.4.1: the host had replied up to there. The
// notice says what happened, the way the other phases are named: the
// next hop stopped answering during the envelope or the message data,
// for how long so far, Status 4.4.2 (the connection was made and the
// transaction not finished), and no Diagnostic-Code: no host gave that
// reply.
func TestQ3DelayNoticeNamesStallInMessageData(t *testing.T) {
	for _, tc := range []struct {
		name, rcpt, want string
		hung             func(h *faultHop) int
		port             string
	}{
		{"after the final dot", "dhang@remote.test", "stopped answering during the message data: no reply for ",
			func(h *faultHop) int { return h.dotsHung }, "3852"},
		{"at its RCPT", "rhang@remote.test", "stopped answering during the envelope (MAIL, RCPT): no reply for ",
			func(h *faultHop) int { return h.rcptsHung }, "3853"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hop := startFaultHopAt(t, "127.0.0.159:"+tc.port+"1", false)
			r := startFaultRigOn(t, "127.0.0.159", "127.0.0.159:"+tc.port+"2", hop, 0, 60*time.Second, 60*time.Second, 30*time.Second)
			r.submit(t, tc.rcpt)
			deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
			for {
				hop.mu.Lock()
				hung := tc.hung(hop)
				hop.mu.Unlock()
				if hung == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the transaction never reached its stall: %q", r.ev.events)
				}
				time.Sleep(5 * time.Millisecond)
			}
			var dsn string
			for i := 0; i < 40 && dsn == ""; i++ {
				r.clk.Advance(5 * time.Second) // the notice at 30 s, beside the stalled transaction
				time.Sleep(20 * time.Millisecond)
				for _, b := range r.home.got("sender@example.org") {
					if strings.Contains(b, "Action: delayed") {
						dsn = b
					}
				}
			}
			if dsn == "" {
				t.Fatalf("no delay DSN beside the stalled transaction: %q", r.ev.events)
			}
			if strings.Contains(dsn, "has replied yet") {
				t.Errorf("the notice says no host replied, of a host that answered up to the stall:\n%s", dsn)
			}
			if !strings.Contains(dsn, tc.rcpt+">: not delivered yet: its next hop "+tc.want) {
				t.Errorf("the notice does not say %q:\n%s", tc.want, dsn)
			}
			if !strings.Contains(dsn, "Status: 4.4.2") {
				t.Errorf("Status is not 4.4.2 (the transaction was not finished):\n%s", dsn)
			}
			if strings.Contains(dsn, "Diagnostic-Code:") {
				t.Errorf("a Diagnostic-Code quotes a reply no host gave:\n%s", dsn)
			}
		})
	}
}

// The same over a pipelined transaction (an LMTP server offering
// PIPELINING: MAIL, RCPT and DATA in one write, smtp.Client.SetInData):
// a mailbox server that holds its reply to the final dot is reported as
// stopped answering during the message data, not as no host replying.
func TestQ3DelayNoticeNamesStallInPipelinedData(t *testing.T) {
	lmtp := &turnLMTP{listen: "127.0.0.159:8541", gate: make(chan struct{}), gateAddr: "u@example.test"}
	lmtpAddr := lmtp.start(t)
	released := false
	release := func() {
		if !released {
			released = true
			close(lmtp.gate)
		}
	}
	defer release()
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: lmtpAddr})
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &expiryRig{store: store, d: d, t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ev: &eventRecorder{}}
	r.clk = clock.NewFake(r.t0)
	r.q = queue.NewManager(store, d, queue.ManagerConfig{Hostname: "umbra.test", MaxActive: 8, Clock: r.clk, Events: r.ev,
		RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: time.Hour, DelayNotification: 30 * time.Second})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.q.Start(r.ctx)
	defer r.stop(release)
	(&faultRig{expiryRig: r}).submit(t, "u@example.test")
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	for {
		lmtp.mu.Lock()
		busy := lmtp.inFlight["u@example.test"] == 1
		lmtp.mu.Unlock()
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transaction did not begin: %q", r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var dsn string
	for i := 0; i < 40 && dsn == ""; i++ {
		r.clk.Advance(5 * time.Second) // the notice at 30 s, beside the held transaction
		time.Sleep(20 * time.Millisecond)
		store.View(func(tx *queue.Tx) error {
			tx.ForEach(func(m *queue.Message, err error) bool {
				if err == nil && m.Connector == "dsn" {
					if b, err := r.q.Body(m.ID); err == nil && strings.Contains(string(b), "Action: delayed") {
						dsn = string(b)
					}
				}
				return true
			})
			return nil
		})
	}
	if dsn == "" {
		t.Fatalf("no delay DSN beside the held transaction: %q", r.ev.events)
	}
	if strings.Contains(dsn, "has replied yet") || !strings.Contains(dsn, "stopped answering during the message data: no reply for ") {
		t.Errorf("the notice does not say the mailbox server stopped answering during the message data:\n%s", dsn)
	}
	if !strings.Contains(dsn, "Status: 4.4.2") || strings.Contains(dsn, "Diagnostic-Code:") {
		t.Errorf("want Status 4.4.2 and no Diagnostic-Code:\n%s", dsn)
	}
}

// SPEC Q-3: the phase a delay notice names is the recipient's own. A
// recipient whose RCPT the next hop refused for now (450) has left the
// transaction: it is in no phase of it, while the others it accepted go
// on into the message data. Its envelope mark stayed set until the
// transaction ended, and a notice made while the next hop held its
// reply to the final dot said that the host had stopped answering
// during the envelope, of a recipient it had answered. It is not named
// in that phase now; the accepted one still is, in the message data.
func TestQ3DelayNoticeNamesNoPhaseForRefusedRecipient(t *testing.T) {
	hop := startFaultHopAt(t, "127.0.0.156:7001", false)
	r := startFaultRigOn(t, "127.0.0.156", "127.0.0.156:7002", hop, 0, 60*time.Second, 60*time.Second, 30*time.Second)
	r.submit(t, "dhang@remote.test", "rrefuse@remote.test")
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	for {
		hop.mu.Lock()
		hung := hop.dotsHung
		hop.mu.Unlock()
		if hung == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transaction never reached its stall: %q", r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var dsn string
	for i := 0; i < 40 && dsn == ""; i++ {
		r.clk.Advance(5 * time.Second) // the notice at 30 s, beside the stalled transaction
		time.Sleep(20 * time.Millisecond)
		for _, b := range r.home.got("sender@example.org") {
			if strings.Contains(b, "Action: delayed") {
				dsn = b
			}
		}
	}
	if dsn == "" {
		t.Fatalf("no delay DSN beside the stalled transaction: %q", r.ev.events)
	}
	if !strings.Contains(dsn, "dhang@remote.test>: not delivered yet: its next hop stopped answering during the message data: no reply for ") {
		t.Errorf("the accepted recipient is not named in the message data:\n%s", dsn)
	}
	if strings.Contains(dsn, "rrefuse@remote.test>: not delivered yet: its next hop stopped answering") {
		t.Errorf("the recipient the next hop refused is named in a phase of the transaction it left:\n%s", dsn)
	}
}
