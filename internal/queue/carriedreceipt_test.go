package queue

import (
	"testing"
	"time"

	"umbra/internal/orgid"
)

// ops48, life49: a release moved the age clock here, and the next umbra
// server was sent that clock alone (orgid.ArrivedHeader): its message
// show and its DSN's Arrival-Date named the release. The clock still
// travels (that server's expiry, and a holder's takeover, count from
// it), and the organisation's first receipt travels beside it
// (orgid.ReceivedHeader): the next server keeps it as its record's
// receipt.
func TestOps48CarriedArrivalIsTheFirstReceipt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	exp := 24 * time.Hour
	for _, tc := range []struct {
		name    string
		release func(m *Message, now time.Time)
	}{
		{"resume", func(m *Message, now time.Time) { m.resumedFromHold(t0.Add(time.Hour), true, now, exp) }},
		{"quarantine release", func(m *Message, now time.Time) { m.releasedFromHold(now) }},
	} {
		m := &Message{OrgID: "0123456789abcdef0123456789abcdef", Arrived: t0, OrgEarlier: 5 * time.Minute}
		first := m.OrgArrived()
		now := t0.Add(3 * time.Hour)
		tc.release(m, now)
		clock := m.OrgArrived()
		if clock.Equal(first) {
			t.Fatalf("%s: the age clock did not move; the test proves nothing", tc.name)
		}
		// The copy as delivery sends it, read as the next server's session does.
		head := orgid.PrependRecord(m.Carried(), []byte("Subject: x\r\n\r\nbody\r\n"))
		carried, _ := orgid.Carried(head)
		next := &Message{CarriedArrival: carried, CarriedReceived: orgid.CarriedReceived(head)}
		next.settleArrival(now.Add(time.Minute), exp)
		if !next.OrgReceived().Equal(first) {
			t.Errorf("%s: the next server received it %v, want the first receipt %v", tc.name, next.OrgReceived(), first)
		}
		if !next.OrgArrived().Equal(clock.Truncate(time.Second)) {
			t.Errorf("%s: the next server's age clock %v, want this one's %v", tc.name, next.OrgArrived(), clock)
		}
	}
}
