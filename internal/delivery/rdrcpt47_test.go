package delivery

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// failAtRecopied is a holders' queue whose commit recording a copy made
// again (ShadowRecopiedOrg) fails: a full disk, after the push the
// server confirmed.
type failAtRecopied struct{ *queue.Manager }

func (f failAtRecopied) ShadowRecopiedOrg(queue.ID, string, string) error {
	return errors.New("disk full")
}

// SR-17 (rdrcpt47): a copy made again on hub-c, hub-c confirming it, whose
// commit naming hub-c fails: hub-c holds the copy, and the failure names
// it as a server that may hold one (smtp.CopyMayBeHeldError), so that the
// receive session's 250 says "shadow copy unconfirmed: one may exist on
// hub-c" and a message that left meanwhile has hub-c handed its discard —
// not ", no shadow copy" of a message whose copy is on hub-c.
func TestSR17RecopyCommitFailedNamesTheServerThatHoldsTheCopy(t *testing.T) {
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rdleft45IP, 18000, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	bAddr := testsupport.AddrInRange(t, rdleft45IP, 18100, 100) // nothing listens: never reached
	_, q := openQueue(t, clock.NewFake(time.Now()))
	addr := startTransportServerAt(t, "hub-a", "hub-a.test", "hub-a.yaml", testsupport.AddrInRange(t, rdleft45IP, 18200, 100), q, q)
	d, r := hubAReceiptRig(t, addr,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cHub.Addr()})
	m := &queue.Message{OrgID: strings.Repeat("0", 30) + "2f", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-b", bAddr) // hub-c first

	srv, err := r.Recopy(context.Background(), failAtRecopied{q}, m.ID, nil)
	if srv != "" || err == nil {
		t.Fatalf("made again on %q (%v); want the commit's failure", srv, err)
	}
	if cHub.Copies.Load() == 0 {
		t.Fatal("hub-c read no copy: the test proves nothing")
	}
	var mh *smtp.CopyMayBeHeldError
	if !errors.As(err, &mh) || !slices.Contains(mh.Servers, "hub-c") {
		t.Errorf("failure %v names no server that may hold the copy (%v): hub-c holds it, and the 250 says no shadow copy", err, mh)
	}
}
