package queue

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestWaitingSenderGetsRefusalNotDSN (SMTP-7): a sender still waiting
// for delayed acknowledgement whose every recipient was refused gets the
// refusal, and no DSN is queued; with one recipient accepted it gets
// nothing (its 250) and the DSN names the refused one; a sender that
// stopped waiting gets the DSN as before.
func TestWaitingSenderGetsRefusalNotDSN(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rcpts    []string
		waiting  bool
		want     *Refusal
		wantDSNs int
	}{
		{"one refused", []string{"nobody@corp.test"}, true, &Refusal{550, [3]int{5, 1, 1}, "<nobody@corp.test>: user unknown"}, 0},
		{"all refused alike", []string{"nobody@corp.test", "ghost@corp.test"}, true,
			&Refusal{550, [3]int{5, 1, 1}, "all recipients refused by the next hop: <nobody@corp.test>: user unknown"}, 0},
		{"all refused, mixed codes", []string{"nobody@corp.test", "big@corp.test"}, true,
			&Refusal{554, [3]int{5, 0, 0}, "all recipients refused by the next hop"}, 0},
		{"some refused", []string{"nobody@corp.test", "alice@corp.test"}, true, nil, 1},
		{"sender no longer waiting", []string{"nobody@corp.test"}, false, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			d := newScripted(func(addr string, _ int) (Outcome, string) {
				switch addr {
				case "alice@corp.test", "sender@example.org":
					return RelayedOK, "250 2.0.0 ok"
				case "big@corp.test":
					return FailedPerm, "552 5.3.4 message too big"
				}
				return FailedPerm, "550 5.1.1 <" + addr + ">: user unknown"
			})
			// The sender is inside: the scripted replies name no next hop,
			// so to a sender outside they would read as umbra's own and be
			// described (TestRefusalDescribesOwnErrorsToOutside).
			q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Inside: Inside{SenderDomains: []string{"example.org"}}})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			m := msg(s, "sender@example.org", tc.rcpts...)
			release := q.HoldRefusal(m.ID)
			if !tc.waiting {
				if r := release(); r != nil {
					t.Fatalf("refusal before any attempt: %+v", r)
				}
			}
			q.Start(ctx)
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			// After Submit: before it, the message is not found, which
			// WaitGone takes for gone at once.
			gone, stop := q.WaitGone(m.ID)
			defer stop()
			d.wait(t)
			<-gone
			if tc.waiting {
				got := release()
				if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
					t.Fatalf("refusal %+v, want %+v", got, tc.want)
				}
			}
			for range tc.wantDSNs {
				d.wait(t) // the DSN's own delivery attempt
			}
			waitFor(t, "an empty queue", func() bool { return len(messages(t, s)) == 0 })
			dsns := 0
			d.mu.Lock()
			for _, sm := range d.seen {
				if sm.Connector == "dsn" {
					dsns++
				}
			}
			d.mu.Unlock()
			if dsns != tc.wantDSNs {
				t.Fatalf("%d DSNs, want %d", dsns, tc.wantDSNs)
			}
		})
	}
}

// FuzzRefusalReply: whatever a next hop answered, the refusal given to
// the sender is a 5xx with a matching enhanced code and a short,
// printable text (it is written on the wire as the final reply).
func FuzzRefusalReply(f *testing.F) {
	for _, s := range []string{"550 5.1.1 <a@b>: user unknown", "552 5.3.4 too big", "550 4.4.7 expired", "554", "5x0 1.2.3", "550 5.1.1\r\nX", ""} {
		f.Add(s, "550 5.1.1 other")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, rcpts := range [][]string{{a}, {a, b}} {
			m := &Message{}
			for _, r := range rcpts {
				m.Rcpts = append(m.Rcpts, Recipient{Addr: "x@y", LastReply: r})
			}
			r := refusalOf(m, Inside{})
			if r.Code < 500 || r.Code > 599 || r.Enhanced[0] != 5 || r.Enhanced[1] > 999 || r.Enhanced[2] > 999 {
				t.Fatalf("%q: %+v", rcpts, r)
			}
			if r.Text == "" || len(r.Text) > 250 || strings.ContainsFunc(r.Text, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
				t.Fatalf("%q: text %q", rcpts, r.Text)
			}
		}
	})
}

// SR-9, SMTP-7 (rt49 front F1): a waiting sender that left before its
// reply (SenderLeft) still gets no DSN when every recipient is refused
// (it was given no 250), and the log says it left rather than that it
// got the refusal.
func TestSenderLeftGetsNoDSNAndLogSaysSo(t *testing.T) {
	s := openTest(t)
	d := newScripted(func(addr string, _ int) (Outcome, string) {
		return FailedPerm, "550 5.1.1 <" + addr + ">: user unknown"
	})
	logs := &logBuf{}
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Inside: Inside{SenderDomains: []string{"example.org"}},
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	m := msg(s, "sender@example.org", "nobody@corp.test")
	release := q.HoldRefusal(m.ID)
	q.SenderLeft(m.ID)
	q.Start(ctx)
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	gone, stop := q.WaitGone(m.ID)
	defer stop()
	d.wait(t)
	<-gone
	if r := release(); r == nil {
		t.Fatal("no refusal taken on for the sender that left: a DSN would bounce a message it was never told was accepted")
	}
	waitFor(t, "an empty queue", func() bool { return len(messages(t, s)) == 0 })
	out := logs.String()
	if !strings.Contains(out, "no DSN: the sender left before its reply") || strings.Contains(out, "the waiting sender gets the refusal") {
		t.Fatalf("log does not say the sender left:\n%s", out)
	}
}
