package shadow

import (
	"testing"
	"time"
)

// SR-17, OPS-3 (rt29a F2): a holder whose sessions this server's
// receive side refuses gets no copy on receipt but its try once a minute;
// shadow list said nothing of it (no copy held on either side). Status
// lists it as a refused row with no copies and the record's why; a
// server with a row of its own (copies of it held here) keeps that row
// alone.
func TestHolderRefusedHereListed(t *testing.T) {
	m, _, _, clk := setup()
	since := clk.Now()
	refusals := []HolderRefusal{
		{Server: "hub-c", Since: since, LastRefused: since.Add(time.Second), Why: "its shadow sessions here are refused …; tried again for a copy at T"},
		{Server: "hub-b", Since: since, Why: "listed already"},
	}
	m.rec.SetHolderRefusals(func() []HolderRefusal { return refusals })
	var c, b *PrimaryStatus
	ps := m.Status()
	for i := range ps {
		switch ps[i].Name {
		case "hub-c":
			c = &ps[i]
		case "hub-b":
			b = &ps[i]
		}
	}
	if c == nil || c.Refused != refusals[0].Why || !c.RefusedSince.Equal(since) || !c.LastRefused.Equal(since.Add(time.Second)) {
		t.Fatalf("hub-c's row: %+v; want refused with the record's why and times (status %+v)", c, ps)
	}
	if b == nil || b.Refused != "" {
		t.Fatalf("hub-b, a primary of copies held here: %+v; want its own row, not the holder's refusal", b)
	}
	refusals = nil
	for _, p := range m.Status() {
		if p.Name == "hub-c" {
			t.Fatalf("hub-c listed after its refusal ended: %+v", p)
		}
	}
}
