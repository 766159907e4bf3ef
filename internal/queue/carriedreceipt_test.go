package queue

import (
	"testing"
	"time"
)

// ops48, life49: the arrival delivery carries to the next umbra server
// (orgid.ArrivedHeader: its message show, and a DSN's Arrival-Date
// there) is the organisation's first receipt, not the age clock a
// resume or the quarantine's release moved here.
func TestOps48CarriedArrivalIsTheFirstReceipt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		release func(m *Message, now time.Time)
	}{
		{"resume", func(m *Message, now time.Time) { m.resumedFromHold(t0.Add(time.Hour), true, now, 24*time.Hour) }},
		{"quarantine release", func(m *Message, now time.Time) { m.releasedFromHold(now) }},
	} {
		m := &Message{OrgID: "0123456789abcdef0123456789abcdef", Arrived: t0, OrgEarlier: 5 * time.Minute}
		first := m.OrgArrived()
		tc.release(m, t0.Add(3*time.Hour))
		if m.OrgArrived().Equal(first) {
			t.Fatalf("%s: the age clock did not move; the test proves nothing", tc.name)
		}
		if got := m.Carried().Arrived; !got.Equal(first) {
			t.Errorf("%s: carried arrival %v, want the first receipt %v", tc.name, got, first)
		}
	}
}
