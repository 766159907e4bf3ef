package queue

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt22a M1: the primary failed a recipient for good and made the failure
// DSN that carries its copy's discard (doc.go, "DSNs and shadow copies");
// the DSN deferred at the sender's next hop, the primary went away, and
// the shadow server took the copy over and finished that recipient there
// (failed and reported it again, or got it through). Told so, the
// returning primary does not send its own DSN as well: the sender gets
// one failure report, and none for a recipient the shadow server got
// through. The DSN's end is what would have written the discard: its
// drop writes it. A DSN reporting a recipient no note names stays (that
// recipient may still be pending there, and given back).
func TestTakenDoneDropsDSNCarryingTheCopy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rcpts []string
		notes []TakenDone
		drop  bool
		typo  bool // the copy pushed under a misspelt name of hub-b's database (holdernames.go)
	}{
		{"failed there", []string{"f@x.example"}, []TakenDone{{Addr: "f@x.example", Kind: TakenFailed}}, true, false},
		{"relayed there", []string{"f@x.example"}, []TakenDone{{Addr: "F@x.example", Kind: TakenRelayed}}, true, false},
		{"both named", []string{"f@x.example", "g@x.example"}, []TakenDone{{Addr: "g@x.example", Kind: TakenFailed}, {Addr: "f@x.example", Kind: TakenDelivered}}, true, false},
		{"one not named", []string{"f@x.example", "g@x.example"}, []TakenDone{{Addr: "f@x.example", Kind: TakenFailed}}, false, false},
		{"a delay note alone", []string{"f@x.example"}, []TakenDone{{Kind: TakenDelayed}}, false, false},
		{"copy under a misspelt name", []string{"f@x.example"}, []TakenDone{{Addr: "f@x.example", Kind: TakenFailed}}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			const org = "0123456789abcdef0123456789abcdef"
			pS := openTest(t)
			dP := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
				var out []Result
				for _, i := range rc {
					if m.Connector == "dsn" {
						out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:example.org", Reply: "451 4.7.1 greylisted"})
						continue
					}
					out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Queue: "mx:x.example", Reply: "550 5.1.1 no such user"})
				}
				return out
			})
			ev := &eventLog{}
			var logs bytes.Buffer
			qP := NewManager(pS, dP, ManagerConfig{Clock: clk, Hostname: "hub-c", RetrySchedule: []time.Duration{time.Hour}, Events: ev,
				Log: slog.New(slog.NewTextHandler(&logs, nil))})
			o := msg(pS, "s@example.org", tc.rcpts...)
			o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
			if tc.typo {
				if _, _, err := qP.ShadowHolderSeen("hub-b", "dbB"); err != nil {
					t.Fatal(err)
				}
				qP.ShadowHolderSeen("hub-bb", "dbB") // refused: recorded as an alias of hub-b's database
				o.ShadowServer = "hub-bb"
			}
			runCtx, cancel := context.WithCancel(ctx)
			qP.Start(runCtx)
			if err := qP.Submit(ctx, o, []byte(body)); err != nil {
				t.Fatal(err)
			}
			var dsnID ID
			waitFor(t, "the failure DSN carrying the copy's discard, deferred", func() bool {
				found := false
				pS.View(func(tx *Tx) error {
					tx.ForEach(func(m *Message, err error) bool {
						if err == nil && m.OwnDSN() && m.ShadowID == org && m.Attempts >= 1 && m.State == Ready {
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
			if ids, _ := qP.Discards("hub-b", 10); len(ids) != 0 {
				t.Fatalf("fixture: discard owed before the DSN left: %q", ids)
			}
			notes := slices.Clone(tc.notes)
			for i := range notes {
				notes[i].ID = org
			}
			if _, _, err := qP.ShadowFinishedElsewhere("hub-a", notes); err != nil {
				t.Fatal(err)
			}
			if _, err := qP.Message(dsnID); err != nil {
				t.Fatal("notes from a server that does not keep the copy dropped the DSN")
			}
			setState(t, pS, dsnID, Active)
			if _, busy, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil || (tc.drop && busy != 1) {
				t.Fatalf("the DSN in delivery: %d in delivery (%v); want it counted", busy, err)
			}
			setState(t, pS, dsnID, Ready)
			if _, _, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil {
				t.Fatal(err)
			}
			_, err := qP.Message(dsnID)
			ids, _ := qP.Discards("hub-b", 10)
			if tc.drop {
				if err == nil {
					t.Fatal("the primary's failure DSN is still queued after hub-b finished every recipient it reports: two reports to the sender")
				}
				if !slices.Equal(ids, []string{org}) {
					t.Fatalf("discards owed to hub-b: %q, want the one the DSN carried", ids)
				}
				// What the event says is what the notes tell, no more
				// (shadowout48 F4): not why hub-b took the copy over, nor
				// that it reported a failure.
				// The DSN carries the copy's discard: the copy is named by
				// its shadow id (the DSN's record keeps no id of the
				// message it reports on), never a zero queue id.
				if !ev.has("finished-elsewhere: failure DSN not sent: hub-b, which took the copy " + org +
					" over, finished every recipient it reports (failed there, its DSN made there if one is owed, or handed on or delivered there)") {
					t.Errorf("the dropped DSN's event: %q", ev.out)
				}
				// Its log line names the copy as the event does: a zero
				// report_on named no message.
				line := ""
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, "failure DSN not sent") {
						line = l
					}
				}
				if strings.Contains(line, "report_on=0000000000000000") || !strings.Contains(line, "shadow_id="+org) {
					t.Errorf("the dropped DSN's log line names no copy: %q", line)
				}
				return
			}
			if err != nil {
				t.Fatalf("the DSN was dropped though a recipient it reports is named by no note: %v", err)
			}
			if len(ids) != 0 {
				t.Fatalf("discard written while the DSN is kept: %q", ids)
			}
		})
	}
}
