package queue

import (
	"testing"
	"time"
)

// rdlife49: a receipt a hub named that is no earlier than the clock it
// carried (a future date, a hub's clock ahead) keeps no receipt apart,
// and none moves the age clock: expiry counts from the carried arrival
// alone, bounded as ever.
func TestRdlife49CarriedReceiptNeverMovesTheClock(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	exp := 48 * time.Hour
	for _, c := range []struct {
		name              string
		arrived, received time.Time
		wantReceipt       time.Time
	}{
		{"after the clock", now.Add(-time.Hour), now.Add(time.Hour), time.Time{}},
		{"both in the future", now.Add(3 * time.Hour), now.Add(2 * time.Hour), now},
		{"long before the clock", now.Add(-time.Hour), now.Add(-1000 * time.Hour), now.Add(-1000 * time.Hour)},
	} {
		m := &Message{CarriedArrival: c.arrived, CarriedReceived: c.received}
		m.settleArrival(now, exp)
		wantEarlier := min(max(now.Sub(c.arrived), 0), exp/10*9)
		if !m.Arrived.Equal(now) || m.OrgEarlier != wantEarlier {
			t.Errorf("%s: clock %v less %v, want %v less %v", c.name, m.Arrived, m.OrgEarlier, now, wantEarlier)
		}
		if got := m.Received.Add(-m.ReceivedEarlier); !c.wantReceipt.IsZero() && !got.Equal(c.wantReceipt) || c.wantReceipt.IsZero() && !m.Received.IsZero() {
			t.Errorf("%s: receipt %v (kept %v), want %v", c.name, got, m.Received, c.wantReceipt)
		}
	}
}
