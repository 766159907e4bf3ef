package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-8, SR-11 (shadowrt35 F1): the primary failed some recipients
// for good while another stayed pending, so their failure DSN carries no
// discard — its dsnreported entry names the copy on hub-b and the
// recipients it reports (reportedcopy.go). The DSN deferred at the
// sender's next hop and the primary went away: the copy covered those
// recipients, and hub-b, which took it over, failed them again and
// reported them. Told so by hub-b's notes, the returning primary does
// not send its own DSN as well (README "Partial discards": "a returning
// primary's DSN is dropped by the taken-done notes"). A DSN reporting a
// recipient no note names stays; one in delivery is counted and kept for
// its attempt's commit; notes of another server change nothing.
func TestTakenDoneDropsEarlyFailureDSN(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed []string // failed for good by the primary; "p@x.example" stays pending
		notes  []TakenDone
		drop   bool
	}{
		{"failed there", []string{"f@x.example"}, []TakenDone{{Addr: "f@x.example", Kind: TakenFailed}}, true},
		{"both named", []string{"f@x.example", "g@x.example"}, []TakenDone{{Addr: "g@x.example", Kind: TakenFailed}, {Addr: "F@x.example", Kind: TakenFailed}}, true},
		{"one not named", []string{"f@x.example", "g@x.example"}, []TakenDone{{Addr: "f@x.example", Kind: TakenFailed}}, false},
		{"a delay note alone", []string{"f@x.example"}, []TakenDone{{Kind: TakenDelayed}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := earlyFailureDSN(t, time.Hour, tc.failed...)
			pS, qP, o, dsnID, org := f.s, f.q, f.orig, f.dsn, f.org
			pS.View(func(tx *Tx) error {
				if _, _, entries, ok := tx.reportedOf(dsnID); !ok || len(entries) != 1 || entries[0].server != "hub-b" || entries[0].id != org {
					t.Fatalf("fixture: the DSN's dsnreported entry is %v (%v), want one naming hub-b's copy", entries, ok)
				}
				return nil
			})
			notes := append([]TakenDone(nil), tc.notes...)
			for i := range notes {
				notes[i].ID = org
			}
			if _, _, err := qP.ShadowFinishedElsewhere("hub-c", notes); err != nil {
				t.Fatal(err)
			}
			if _, err := qP.Message(dsnID); err != nil {
				t.Fatal("notes from a server that does not keep the copy dropped the DSN")
			}
			setState(t, pS, dsnID, Active)
			if _, busy, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil || (tc.drop && busy != 1) {
				t.Fatalf("the DSN in delivery: %d in delivery (%v); want it counted", busy, err)
			}
			if _, err := qP.Message(dsnID); err != nil {
				t.Fatal("the DSN in delivery was dropped under its attempt")
			}
			setState(t, pS, dsnID, Ready)
			if _, _, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil {
				t.Fatal(err)
			}
			_, err := qP.Message(dsnID)
			if tc.drop {
				if err == nil {
					t.Fatal("the primary's failure DSN is still queued after hub-b failed and reported every recipient it reports: two reports to the sender")
				}
				pS.View(func(tx *Tx) error {
					if _, _, _, ok := tx.reportedOf(dsnID); ok {
						t.Error("the dropped DSN's dsnreported entry is left")
					}
					return nil
				})
				m, err := qP.Message(o.ID)
				if err != nil || len(m.Pending()) != 1 {
					t.Fatalf("the original: %v, %v; want it kept with p@ pending", m, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("the DSN was dropped though a recipient it reports is named by no note: %v", err)
			}
		})
	}
}

// earlyDSN is a primary (hub-a) that failed recipients for good while
// p@x.example stayed pending: its failure DSN, deferred at the sender's
// next hop, carries no discard — its dsnreported entry names the copy
// hub-b keeps (org) — and its manager is stopped.
type earlyDSN struct {
	s    *Store
	q    *Manager
	clk  *clock.Fake
	orig *Message
	dsn  ID
	org  string
}

// earlyFailureDSN makes an earlyDSN whose original fails failed and
// retries after retry.
func earlyFailureDSN(t *testing.T, retry time.Duration, failed ...string) earlyDSN {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	dP := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if m.Connector == "dsn" || m.Rcpts[i].Addr == "p@x.example" {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:x.example", Reply: "451 4.7.1 greylisted"})
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Queue: "mx:x.example", Reply: "550 5.1.1 no such user"})
		}
		return out
	})
	qP := NewManager(pS, dP, ManagerConfig{Clock: clk, Hostname: "hub-a", RetrySchedule: []time.Duration{retry}})
	o := msg(pS, "s@example.org", append(append([]string(nil), failed...), "p@x.example")...)
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	runCtx, cancel := context.WithCancel(ctx)
	qP.Start(runCtx)
	if err := qP.Submit(ctx, o, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var dsnID ID
	waitFor(t, "the failure DSN made while p@ is pending, deferred", func() bool {
		found := false
		pS.View(func(tx *Tx) error {
			tx.ForEach(func(m *Message, err error) bool {
				if err == nil && m.OwnDSN() && m.Attempts >= 1 && m.State == Ready {
					dsnID, found = m.ID, true
				}
				return true
			})
			return nil
		})
		return found
	})
	cancel()
	qP.Wait()
	return earlyDSN{s: pS, q: qP, clk: clk, orig: o, dsn: dsnID, org: org}
}
