package delivery

import (
	"context"
	"testing"

	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SR-17 (midpush41, the made-again pass's sibling): a copy made again
// whose push to the chosen holder ends mid-session — here reset after
// the data's end, as a holder killed before its reply — is a failed try
// of that holder, as a refusal or a hung push is: the next candidate
// keeps it in the same pass (RecopyRefused, on receipt, makes its copy
// through the same code). The pass gave up on the message until the
// next pass instead, and the receipt accepted it held by this server
// only. The reset holder may have stored the copy: it is owed the
// copy's discard once the copy is made elsewhere.
func TestRecopyMovesOnFromHolderResetMidPush(t *testing.T) {
	ip := "127.0.0.156"
	b := testsupport.StartHub(t, ip+":"+opsPort(t, ip), testsupport.HubScript{Fault: testsupport.FaultDotReset})
	cAddr, cCopies := copyPeer(t, ip+":"+opsPort(t, ip), "250 2.0.0 kept")
	r, q, m := recopyWaiting(t, "1", routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.Addr()},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cAddr})
	firstInRotation(t, r, "hub-b")
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if err != nil || srv != "hub-c" {
		t.Fatalf("made again on %q: %v; want hub-c in the same pass after hub-b's session was reset", srv, err)
	}
	if b.Faults.Load() == 0 || cCopies.Load() != 1 {
		t.Fatalf("hub-b reset %d pushes, hub-c kept %d copies; want hub-b tried first, then 1 on hub-c", b.Faults.Load(), cCopies.Load())
	}
	if lines, _ := q.DiscardsPartial("hub-b", 10); len(lines) != 1 || lines[0] != m.OrgID {
		t.Errorf("owed to hub-b: %q; want the copy's discard (it may have stored the push reset after the data's end)", lines)
	}
	if sc, ok := q.SingleCopyOf(m.ID); ok {
		t.Errorf("still held by this server only: %+v", sc)
	}
}

// firstInRotation sets r's rotation so that the next copy's first
// candidate within site b (hub-b, hub-c) is name.
func firstInRotation(t *testing.T, r *ReceiptShadow, name string) {
	t.Helper()
	for i := uint64(0); i < 8; i++ {
		if plan := receiptTries(r.marked(r.clock()), []*routing.Server{{Name: "hub-b", Site: "b"}, {Name: "hub-c", Site: "b"}}, i+1, 2); plan[0].Name == name {
			r.next.Store(i)
			return
		}
	}
	t.Fatalf("no turn puts %s first", name)
}
