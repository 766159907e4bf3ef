package delivery

import (
	"context"
	"net"
	"strconv"
	"testing"

	"umbra/internal/config"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// budgetIP is the loopback address of the retry-budget tests (ports
// 13000-13299: budgetAddr).
const budgetIP = "127.0.0.198"

// budgetAddr returns an address on budgetIP whose port (13000-13299)
// was free a moment ago and is not one of taken.
func budgetAddr(t *testing.T, taken ...string) string {
	t.Helper()
	for p := 13000; p < 13300; p++ {
		a := net.JoinHostPort(budgetIP, strconv.Itoa(p))
		skip := false
		for _, x := range taken {
			skip = skip || x == a
		}
		if skip {
			continue
		}
		if ln, err := net.Listen("tcp", a); err == nil {
			ln.Close()
			return a
		}
	}
	t.Fatal("no free port in 13000-13299 on " + budgetIP)
	return ""
}

// inRotation sets r's rotation so that the next copy's candidates in
// site b (the servers of site b given, in the topology's order) are
// tried in the order names gives.
func inRotation(t *testing.T, r *ReceiptShadow, site []*routing.Server, names ...string) {
	t.Helper()
	for i := uint64(0); i < 16; i++ {
		plan := receiptTries(r.marked(r.clock()), site, i+1, len(site))
		ok := len(plan) >= len(names)
		for k := 0; ok && k < len(names); k++ {
			ok = plan[k].Name == names[k]
		}
		if ok {
			r.next.Store(i)
			return
		}
	}
	t.Fatalf("no turn puts %v first", names)
}

// SR-17 (rrmidpush41): max_retries_remote_site_shadow is the number of
// servers a copy is tried on, and a server that took no session for it
// (down, or of an older version) is one of them, as one whose push
// failed is. A copy made again (Recopy) with a budget of 2 whose first
// candidate took no session and whose second ended the push mid-way
// (reset after the data's end, midpush41) has spent its budget: no
// third server is tried in that pass — nor the first again. The loop
// counted only the servers whose push failed: each turn planned anew
// from the servers that took no session, so a copy was tried on more
// servers than the budget (the third here, or the first twice), each
// try up to its 10 s bound.
func TestRecopyBudgetCountsServersThatTookNoSession(t *testing.T) {
	old := testsupport.StartHub(t, budgetAddr(t), testsupport.HubScript{EHLO: []string{"8BITMIME"}}) // no XSHADOW: an older version
	reset := testsupport.StartHub(t, budgetAddr(t, old.Addr()), testsupport.HubScript{Fault: testsupport.FaultDotReset})
	dAddr, dCopies := copyPeer(t, budgetAddr(t, old.Addr(), reset.Addr()), "250 2.0.0 kept")
	site := []*routing.Server{
		{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: old.Addr()},
		{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: reset.Addr()},
		{Name: "hub-d", Role: routing.RoleHub, Site: "b", Address: dAddr},
	}
	r, q, m := recopyWaitingBudget(t, "1", 2, *site[0], *site[1], *site[2])
	inRotation(t, r, site, "hub-b", "hub-c")
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if srv != "" || err == nil {
		t.Errorf("made again on %q (%v); want no copy this pass: hub-b and hub-c spent the budget of 2", srv, err)
	}
	if reset.Faults.Load() == 0 {
		t.Fatalf("hub-c's push was not tried (%d sessions): the test proves nothing", reset.Count())
	}
	if n := old.Count(); n != 1 {
		t.Errorf("hub-b was tried on %d sessions; want 1", n)
	}
	if n := dCopies.Load(); n != 0 {
		t.Errorf("hub-d kept %d copies; want none: a third server over the budget of 2", n)
	}
	if _, ok := q.SingleCopyOf(m.ID); !ok {
		t.Error("not marked held by this server only after the budget was spent")
	}
}

// SR-17 (rrmidpush41), the receipt's side: the link Open returns names
// the candidates it tried before its server that took no session
// (smtp.ReceiptLinkTried), which the receive session passes as tried to
// RecopyRefused when the link's push fails; a link whose server was the
// first tried names none.
func TestReceiptLinkNamesServersTriedBefore(t *testing.T) {
	old := testsupport.StartHub(t, budgetAddr(t), testsupport.HubScript{EHLO: []string{"8BITMIME"}}) // no XSHADOW: an older version
	cAddr, _ := copyPeer(t, budgetAddr(t, old.Addr()), "250 2.0.0 kept")
	site := []*routing.Server{
		{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: old.Addr()},
		{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cAddr},
	}
	r, _, _ := recopyWaitingBudget(t, "1", 2, *site[0], *site[1])
	inRotation(t, r, site, "hub-b", "hub-c")
	link, err := r.Open(context.Background(), config.ShadowOnReceiptRemoteOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer link.Done(true)
	lt, ok := link.(smtp.ReceiptLinkTried)
	if !ok {
		t.Fatalf("%T does not name the servers tried before it", link)
	}
	if got := lt.TriedBefore(); link.Server() != "hub-c" || len(got) != 1 || got[0] != "hub-b" {
		t.Errorf("link to %s after %q; want hub-c after hub-b (no session: an older version)", link.Server(), got)
	}
	inRotation(t, r, site, "hub-c")
	again, err := r.Open(context.Background(), config.ShadowOnReceiptRemoteOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Done(true)
	if got := again.(smtp.ReceiptLinkTried).TriedBefore(); again.Server() != "hub-c" || len(got) != 0 {
		t.Errorf("link to %s after %q; want hub-c, the first tried, after none", again.Server(), got)
	}
}
