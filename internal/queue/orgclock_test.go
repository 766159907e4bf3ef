package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// orgClockRig is a manager whose one destination always defers, on a
// fake clock: message_expiration 2h, delay_notification 1h.
func orgClockRig(t *testing.T) (*Store, *Manager, *scripted, *clock.Fake) {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	d := newScripted(func(addr string, n int) (Outcome, string) {
		if addr == "slow@example.net" {
			return Deferred, "451 4.3.0 try later"
		}
		return RelayedOK, "250 ok"
	})
	q := NewManager(s, d, ManagerConfig{Hostname: "hubc.test", Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Minute}, MessageExpiration: 2 * time.Hour,
		DelayNotification: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	return s, q, d, clk
}

// runUntil advances the fake clock in steps of 5 minutes, at most
// limit, until the store is empty, and returns the DSNs the deliverer
// saw (with their bodies) and how long it took.
func runUntil(t *testing.T, s *Store, d *scripted, clk *clock.Fake, limit time.Duration) ([]*Message, time.Duration) {
	t.Helper()
	start := clk.Now()
	waitFor(t, "the first attempt", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.attempts["slow@example.net"] > 0 })
	for clk.Now().Sub(start) < limit && len(messages(t, s)) > 0 {
		n := func() int { d.mu.Lock(); defer d.mu.Unlock(); return len(d.seen) }()
		clk.Advance(5 * time.Minute)
		deadline := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(deadline) && func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.seen) == n }() {
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitFor(t, "the end of the message", func() bool { return len(messages(t, s)) == 0 })
	d.mu.Lock()
	defer d.mu.Unlock()
	var dsns []*Message
	for _, m := range d.seen {
		if m.From == "" {
			dsns = append(dsns, m)
		}
	}
	return dsns, clk.Now().Sub(start)
}

// SR-14, Q-3 (rt21d M2, M3): a message an umbra server of the
// organisation relays here carries the organisation's first arrival and
// whether the "delayed" DSN went (orgid.Carried, set by the receiving
// session): expiry counts from that arrival, not from this receipt; no
// second delay notice goes; the DSN's Arrival-Date and age are the
// organisation's.
func TestExpiryAndDelayNoticeCountFromTheOrganisationsArrival(t *testing.T) {
	s, q, d, clk := orgClockRig(t)
	m := msg(s, "sender@example.org", "slow@example.net")
	m.OrgID = orgid.New()
	m.CarriedArrival = clk.Now().Add(-90 * time.Minute) // 1h30 at the first hub
	m.DelayNotified = true                              // which sent the notice
	m.Rcpts[0].Notify = NotifyFailure | NotifyDelay
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	dsns, took := runUntil(t, s, d, clk, 4*time.Hour)
	if took >= time.Hour { // 30m, and steps of a loaded machine; 2h from this receipt
		t.Errorf("expired %v after this receipt; the organisation's 2h ended 30m after it", took)
	}
	if len(dsns) != 1 || !strings.Contains(dsns[0].Helo, "Action: failed") {
		t.Fatalf("%d DSNs, want the failure alone (the delay notice went at the first hub):\n%v", len(dsns), dsns)
	}
	want := "Arrival-Date: " + clk.Now().Add(-took).Add(-90*time.Minute).Format(time.RFC1123Z)
	if !strings.Contains(dsns[0].Helo, want) || !strings.Contains(dsns[0].Helo, "message expired after 2h") {
		t.Errorf("DSN does not give the organisation's arrival (%s) and age:\n%s", want, dsns[0].Helo)
	}
}

// The carried time is bounded for clock skew (settleArrival): one in
// the future counts as this receipt (a delay notice at 1h, expiry at
// 2h), an absurdly old one leaves the message a tenth of
// message_expiration here (no expiry at its first deferral). The upper
// bounds leave room for the steps of a loaded machine.
func TestCarriedArrivalBoundedForSkew(t *testing.T) {
	for _, c := range []struct {
		name           string
		carried        time.Duration // from this receipt
		atLeast, below time.Duration
		dsns           int
	}{
		{"ahead", 3 * time.Hour, 2 * time.Hour, 2*time.Hour + 45*time.Minute, 2},
		{"absurdly old", -50 * 365 * 24 * time.Hour, 12 * time.Minute, time.Hour, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, q, d, clk := orgClockRig(t)
			m := msg(s, "sender@example.org", "slow@example.net")
			m.OrgID = orgid.New()
			m.CarriedArrival = clk.Now().Add(c.carried)
			m.Rcpts[0].Notify = NotifyFailure | NotifyDelay
			if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			dsns, took := runUntil(t, s, d, clk, 4*time.Hour)
			if took < c.atLeast || took >= c.below {
				t.Errorf("expired %v after this receipt, want [%v, %v)", took, c.atLeast, c.below)
			}
			if len(dsns) != c.dsns {
				t.Errorf("%d DSNs, want %d (delayed, failed)", len(dsns), c.dsns)
			}
		})
	}
}

// The organisation's arrival survives the record (flags' high bits) and
// travels on: what delivery writes is what Carried reads.
func TestOrgArrivalStoredAndCarried(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	m := &Message{ID: 7, State: Ready, Arrived: at, OrgEarlier: 95 * time.Minute, DelayNotified: true, OrgID: orgid.New(),
		RetFull: true, Rcpts: []Recipient{{Addr: "a@example.net"}}}
	back, err := decodeMessage(m.encode())
	if err != nil || back.OrgEarlier != m.OrgEarlier || !back.RetFull || !back.DelayNotified || back.ManualRetry {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	arrived, notified := orgid.Carried(orgid.PrependRecord(back.Carried(), []byte(body)))
	if !arrived.Equal(at.Add(-95*time.Minute)) || !notified {
		t.Fatalf("carried %v %v", arrived, notified)
	}
}
