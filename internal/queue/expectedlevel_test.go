package queue

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// warnLinesWith returns the WARN lines of logs that contain what.
func warnLinesWith(logs, what string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, what) {
			out = append(out, l)
		}
	}
	return out
}

// OPS (rt40 F2 of an outside check): a dumpster resubmit of 1,821
// copies logged 1,818 WARN lines "duplicate suppressed at final
// delivery" — the outcome the resubmit is meant to have, not something
// to act on. It is logged at INFO (tracking has the event).
func TestDuplicateSuppressedLoggedAtInfo(t *testing.T) {
	s := openTest(t)
	var logs lockedBuffer
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Reply: "250 2.0.0 duplicate suppressed", Database: "DB1", Duplicate: true})
		}
		return out
	}), ManagerConfig{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "bob@example.test")
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the duplicate's delivery", func() bool { _, err := q.Message(m.ID); return errors.Is(err, ErrNotFound) })
	if w := warnLinesWith(logs.String(), "duplicate suppressed"); len(w) != 0 {
		t.Fatalf("an expected duplicate suppression logged at WARN:\n%s", strings.Join(w, "\n"))
	}
	if !strings.Contains(logs.String(), "level=INFO msg=\"duplicate suppressed at final delivery\"") || !strings.Contains(logs.String(), "msg_id="+m.ID.String()) {
		t.Fatalf("the duplicate suppression not logged at INFO with its message:\n%s", logs.String())
	}
}

// OPS (rt40 F2): a primary back after a takeover logged one WARN per
// recipient the shadow server finished ("recipient finished by the
// shadow server that took the copy over", 2,315 lines): the takeover's
// expected outcome. Each is logged at INFO (tracking has the
// finished-elsewhere event), as are its siblings for a delay DSN sent
// there and a recipient left there; what the operator acts on (a held
// copy) stays WARN.
func TestFinishedElsewhereLoggedAtInfo(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var logs lockedBuffer
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	const org = "0123456789abcdef0123456789abcdef"
	o := msg(pS, "s@example.org", "a@x.example", "b@x.example", "c@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	notes := []TakenDone{
		{ID: org, Addr: "a@x.example", Kind: TakenDelivered},
		{ID: org, Addr: "b@x.example", Kind: TakenOver},
		{ID: org, Kind: TakenDelayed},
	}
	out, _, err := qP.ShadowFinishedElsewhere("hub-b", notes)
	if err != nil || len(out) == 0 {
		t.Fatalf("the notes applied: %d (%v)", len(out), err)
	}
	for _, what := range []string{"recipient finished by the shadow server", "recipient left to the shadow server", "delay DSN sent by the shadow server"} {
		if w := warnLinesWith(logs.String(), what); len(w) != 0 {
			t.Errorf("an expected outcome of a takeover logged at WARN:\n%s", strings.Join(w, "\n"))
		}
		if !strings.Contains(logs.String(), "level=INFO msg=\""+what) {
			t.Errorf("%q not logged at INFO:\n%s", what, logs.String())
		}
	}
}

// OPS (rt40 F2 sibling): a copy of a message whose original is still
// queued here — a takeover's copy relayed back, a resubmit — merges into
// the original, one line per recipient: the duplicate rule doing its
// work, logged at INFO (tracking's duplicate-suppressed has it).
func TestResubmittedCopyMergedLoggedAtInfo(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	var logs lockedBuffer
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	o := msg(pS, "s@example.org", "b@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-a", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	r := msg(pS, "s@example.org", "b@x.example")
	r.OrgID, r.Arrived = org, clk.Now()
	if err := qP.Submit(ctx, r, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := qP.Message(r.ID); err == nil {
		t.Fatal("the copy was queued beside the original, not merged: the scenario needs the merge")
	}
	if w := warnLinesWith(logs.String(), "merged into the queued original"); len(w) != 0 {
		t.Fatalf("a merged copy logged at WARN:\n%s", strings.Join(w, "\n"))
	}
	if !strings.Contains(logs.String(), `level=INFO msg="resubmitted copy merged into the queued original"`) {
		t.Fatalf("the merge not logged at INFO:\n%s", logs.String())
	}
}

// OPS (rrrcpt40 item 3, sibling of rt40 F2): a dumpster redelivery copy
// delivered to a recipient that asked for success notices (NOTIFY=SUCCESS)
// logged the WARN "no DSN for a dumpster redelivery copy", which the
// README gives the operator to find copies that were not delivered: it
// was delivered, and no success notice for a repair is the rule. A
// success (or delay) notice not sent is INFO; a failure's stays WARN.
func TestRedeliveryCopyNoSuccessDSNLoggedAtInfo(t *testing.T) {
	for _, c := range []struct {
		outcome Outcome
		notify  Notify
		kind    string
		level   string
	}{
		{DeliveredOK, NotifySuccess, "delivered", "INFO"},
		{FailedPerm, 0, "failed", "WARN"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			s := openTest(t)
			var logs lockedBuffer
			q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
				var out []Result
				for _, i := range rcpts {
					out = append(out, Result{Rcpt: i, Outcome: c.outcome, Reply: "250 2.0.0 ok"})
					if c.outcome == FailedPerm {
						out[len(out)-1].Reply = "550 5.1.1 no such user"
					}
				}
				return out
			}), ManagerConfig{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			m := msg(s, "a@example.org", "bob@example.test")
			m.Rcpts[0].Notify = c.notify
			m.State, m.NextAttempt = Ready, time.Now()
			if err := s.Update(context.Background(), func(tx *Tx) error {
				if err := tx.PutNew(m, []byte(body)); err != nil {
					return err
				}
				return tx.MarkRedelivery(m.ID, "r4/0001")
			}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			waitFor(t, "the copy's line", func() bool { return strings.Contains(logs.String(), "no DSN for a dumpster redelivery copy") })
			var got []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "no DSN for a dumpster redelivery copy") {
					got = append(got, l)
				}
			}
			if len(got) != 1 || !strings.Contains(got[0], "level="+c.level) || !strings.Contains(got[0], "kind="+c.kind) || !strings.Contains(got[0], "request_id=r4") {
				t.Fatalf("lines %q: want one at %s with kind=%s and the request", got, c.level, c.kind)
			}
		})
	}
}
