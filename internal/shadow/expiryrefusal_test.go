package shadow

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// SR-6 (shadow31 S3): a primary that answers and refuses this server keeps its
// expired copies "until it lets this server in or stops answering (its
// failed heartbeats take them over)". One failed heartbeat — a network
// blip, a heartbeat cut off by its bound — forgets the refusal
// (Recorder.unreachable), and from then until the next refused heartbeat
// (a heartbeat timeout later) KeepExpiredCopies says "": the queue's
// expiry pass takes the copies over and delivers them a second time,
// though the primary is alive, refusing, with 1 failure of 3, nothing
// taken over by heartbeats.
func TestSR6ExpiredCopiesKeptThroughOneFailedHeartbeat(t *testing.T) {
	m, st, hb, clk := setup()
	st.ps["hub-b"].DatabaseID = "db1"
	reply := "550 5.7.1 Not permitted to open a shadow session"
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, "D:db1"}) })
	step(t, m, hb, clk, 900*time.Second)
	if why := m.KeepExpiredCopies("hub-b"); why == "" {
		t.Fatal("a refusing primary's expired copies are not kept")
	}
	hb.set(func(h *fakeHB) { h.err = errors.New("read tcp: connection reset by peer") })
	step(t, m, hb, clk, 300*time.Second)
	if tk := st.taken(); len(tk) != 0 {
		t.Fatalf("taken over by heartbeats after one failure: %v", tk)
	}
	if why := m.KeepExpiredCopies("hub-b"); why == "" {
		t.Fatalf("one failed heartbeat (failures %d of 3, nothing taken over) and the expired copies of the live, refusing primary are no longer kept: the expiry pass takes them over, a second delivery", st.ps["hub-b"].Failures)
	}
	// It stops answering: its failed heartbeats take the copies over,
	// and end the keeping.
	for i := 0; i < 6 && len(st.taken()) == 0; i++ {
		step(t, m, hb, clk, 300*time.Second)
	}
	if len(st.taken()) == 0 {
		t.Fatalf("no takeover after the retry count of failed heartbeats (failures %d)", st.ps["hub-b"].Failures)
	}
	if why := m.KeepExpiredCopies("hub-b"); why != "" {
		t.Fatalf("taken over by its failed heartbeats, and expired copies still kept: %q", why)
	}
	// It answers again and refuses: kept again; a session let in ends it.
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, "D:db1"}) })
	step(t, m, hb, clk, 900*time.Second)
	if why := m.KeepExpiredCopies("hub-b"); why == "" {
		t.Fatal("the primary refuses again after the takeover: its expired copies are not kept")
	}
	clk.Advance(time.Second)
	if err := m.rec.save("hub-b")("db1", 0, nil, true); err != nil {
		t.Fatal(err)
	}
	if why := m.KeepExpiredCopies("hub-b"); why != "" {
		t.Fatalf("hub-b let this server in: expired copies still kept (%q)", why)
	}
}

// SR-6: earlierrelease.go states the price of trusting a digestless
// refusal at the address of a primary proved of an earlier release:
// "something at the address ... that refuses without a digest keeps its
// copies here until it lets this server in, the primary is upgraded, or
// the copies expire (message_expiration plus an hour, then taken over
// as any)". The expiry is the one bound: a refusal without the digest
// must not keep the expired copies too, or nothing at all ever takes
// them over — the primary's host gone, its address answered by another
// MTA (or an earlier-release server) that refuses this server, the
// messages are never delivered nor bounced.
func TestSR6DigestlessRefusalKeepsNoExpiredCopies(t *testing.T) {
	m, fst, hb, clk := setup()
	fst.ps["hub-b"].DatabaseID = "db1"
	st := &earlierStore{fakeStore: fst, digestless: map[string]string{}}
	m.cfg.Store, m.rec.store = st, st
	m.rec.SessionDigest("hub-b", "db1", "") // proved of an earlier release
	// The primary's host is gone; another MTA now answers at its address.
	reply := "502 5.5.2 Error: command not recognized"
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, ""}) })
	for range 3 * 24 { // 3 days, an hour at a time
		step(t, m, hb, clk, 3600*time.Second)
		if len(st.taken()) > 0 {
			return
		}
	}
	if why := m.KeepExpiredCopies("hub-b"); why != "" {
		t.Fatalf("3 days on (message_expiration+1h long past), nothing taken over by heartbeats and the expiry pass still keeps the copies (%q): never delivered", why)
	}
}
