package shadow

import (
	"testing"
	"time"
)

// SR-6, OPS-2 (rt30a F3): a primary reloaded without accept-xshadow
// refuses this server's heartbeats (502 5.5.1 XSHADOW not available)
// while the watch session opened before the reload keeps completing its
// discard queries. Those contacts on a session let in before the
// refusal ended it, so shadow list and umbra_shadow_primary_state
// flapped between healthy and refused each second, and the WHY said
// "refused since 0s ago" after 20 s of refusals. One state: refused,
// since the first refusal, until a session opened after it is let in.
func TestRefusalStandsThroughContactsOfAnOlderSession(t *testing.T) {
	m, _, _, clk := setup()
	watch := m.rec.save("hub-b") // the watch session, let in before the reload
	if err := watch("db1", 0, nil, true); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	const reply = "502 5.5.1 XSHADOW not available"
	m.rec.Refused("hub-b", SessionHeartbeat, reply)
	_, since, _, ok := m.rec.Refusal("hub-b")
	if !ok {
		t.Fatal("the refused heartbeat is not recorded")
	}
	for i := range 20 {
		clk.Advance(time.Second)
		if err := watch("db1", 0, nil, true); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			m.rec.Refused("hub-b", SessionHeartbeat, reply) // the next heartbeat, refused
		}
		r, s, _, ok := m.rec.Refusal("hub-b")
		if !ok || r != reply || !s.Equal(since) {
			t.Fatalf("after %d s of refusals, a contact on the watch session opened before them: refused=%v %q since %v, want refused since %v", i+1, ok, r, s, since)
		}
		if ps := m.Status(); len(ps) != 1 || ps[0].Refused == "" {
			t.Fatalf("after %d s: shadow list shows %+v, want refused", i+1, ps)
		}
	}
	// A heartbeat let in again — a session opened after the refusal —
	// ends it.
	clk.Advance(time.Second)
	if err := m.rec.save("hub-b")("db1", 0, nil, true); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := m.rec.Refusal("hub-b"); ok {
		t.Fatal("a heartbeat let in after the refusal did not end it")
	}
}

// rt30a F3, its sibling: a delivery's session with the primary (a relay
// kept open in the pool) that was let in before the refusal asks for
// discards at its end and during it: ContactOn and PresentedOn with the
// time its XSHADOW was answered end no refusal that came after.
func TestRefusalStandsThroughDeliverySessionOpenedBefore(t *testing.T) {
	m, _, _, clk := setup()
	opened := clk.Now()
	clk.Advance(time.Second)
	m.rec.Refused("hub-b", SessionHeartbeat, "550 5.7.1 not permitted")
	_, since, _, _ := m.rec.Refusal("hub-b")
	clk.Advance(time.Second)
	if err := m.ContactOn("hub-b", "db1", 0, nil, opened); err != nil {
		t.Fatal(err)
	}
	if err := m.PresentedOn("hub-b", "db1", 0, nil, opened); err != nil {
		t.Fatal(err)
	}
	if _, s, _, ok := m.rec.Refusal("hub-b"); !ok || !s.Equal(since) {
		t.Fatalf("a pooled session let in before the refusal ended it: refused=%v since %v", ok, s)
	}
	if err := m.ContactOn("hub-b", "db1", 0, nil, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := m.rec.Refusal("hub-b"); ok {
		t.Fatal("a session let in after the refusal did not end it")
	}
}
