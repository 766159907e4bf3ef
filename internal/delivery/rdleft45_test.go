package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// rdleft45IP is the loopback address of the rdleft45 tests (ports
// 18000-18499).
const rdleft45IP = "127.0.0.196"

// goneAtRecopied is a holders' queue whose message leaves this server
// (an attempt's end, an operator's removal) while the copy made again
// is in flight: just before the commit that records it
// (ShadowRecopiedOrg), which then finds the record gone.
type goneAtRecopied struct{ *queue.Manager }

func (g goneAtRecopied) ShadowRecopiedOrg(id queue.ID, orgID, to string) error {
	if err := g.RemoveMessage(context.Background(), id, false); err != nil && !errors.Is(err, queue.ErrNotFound) {
		return err
	}
	return g.Manager.ShadowRecopiedOrg(id, orgID, to)
}

// SR-17 (rdleft45, the sibling of rdwatch45's left message): a copy
// made again on hub-c — by a receive session before its 250
// (RecopyRefused) or by the made-again pass — whose message left this
// server while the push was in flight (its delivery attempt, which
// starts at the commit, ended: likely, a push made again comes after
// one that hung). The commit recording the copy finds the record gone
// and owes hub-c its discard; the record's end owed hub-b, whose push
// got no reply, its own. Both are found by the org id only: the hand-over
// read the record's unconfirmed pushes and found nothing, so the 250
// (or the pass's end) went out with hub-b and hub-c both holding a copy
// of a message that left, free to take it over and deliver it again
// once this server is killed. hub-b's watch session here fetches its
// discard before Recopy returns (its pushes hung lately: no push).
func TestSR17RecopyOfMessageGoneAtItsRecordHandsTheDiscardsByOrgID(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = 4 * time.Second
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rdleft45IP, 18000, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	bAddr := testsupport.AddrInRange(t, rdleft45IP, 18100, 100) // nothing listens: never reached
	_, q := openQueue(t, clock.NewFake(time.Now()))
	addr := startTransportServerAt(t, "hub-a", "hub-a.test", "hub-a.yaml", testsupport.AddrInRange(t, rdleft45IP, 18200, 100), q, q)
	d, r := hubAReceiptRig(t, addr,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cHub.Addr()})
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "f", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	// hub-b's push got no reply once its copy was sent: it may hold it.
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-b", bAddr) // hub-c first
	r.hungAt.Store(mailaddr.NameKey("hub-b"), r.clock())                  // its pushes hung lately
	acked, closeWatch := watchingServer(t, q, addr, "hub-b")
	defer closeWatch()

	srv, err := r.Recopy(context.Background(), goneAtRecopied{q}, m.ID, nil)
	if srv != "hub-c" || err != nil {
		t.Fatalf("made again on %q (%v); want hub-c", srv, err)
	}
	if cHub.Copies.Load() == 0 {
		t.Fatal("hub-c read no copy: the test proves nothing")
	}
	if _, err := q.Message(m.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("the message is still here (%v): the test proves nothing", err)
	}
	if !acked.Load() || q.OrgDiscardOwed(m.OrgID, "hub-b") {
		t.Error("Recopy returned before hub-b's watch session fetched the discard owed to it: the message left, and a kill of this server now leaves hub-b free to take its copy over and deliver it again")
	}
}

// goneAtWait is a holders' queue whose message id leaves this server
// (its attempt's end, a removal) as the hand-over starts waiting for a
// watched server's fetch (DiscardAcks is read just before the wait).
type goneAtWait struct {
	*queue.Manager
	id queue.ID
}

func (g goneAtWait) DiscardAcks(server string) uint64 {
	if err := g.RemoveMessage(context.Background(), g.id, false); err != nil && !errors.Is(err, queue.ErrNotFound) {
		panic(err)
	}
	return g.Manager.DiscardAcks(server)
}

// SR-17 (rdleft45, the same sibling within the wait): the copy made
// again on hub-c, the record still here, hub-b owed its discard; the
// message leaves while the hand-over waits for hub-b's watch session to
// fetch it. The wait read the discard owed through the record: gone, it
// read as "cannot tell" and ended at once, hub-b hung lately was tried
// no further, and the pass (or the 250) went out before hub-b fetched a
// discard still owed to it by the org id.
func TestSR17MessageLeavingDuringTheWaitStillWaitsForTheFetch(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = 4 * time.Second
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rdleft45IP, 18000, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	bAddr := testsupport.AddrInRange(t, rdleft45IP, 18100, 100) // nothing listens: never reached
	_, q := openQueue(t, clock.NewFake(time.Now()))
	addr := startTransportServerAt(t, "hub-a", "hub-a.test", "hub-a.yaml", testsupport.AddrInRange(t, rdleft45IP, 18200, 100), q, q)
	d, r := hubAReceiptRig(t, addr,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cHub.Addr()})
	m := &queue.Message{OrgID: strings.Repeat("0", 30) + "1f", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-b", bAddr) // hub-c first
	r.hungAt.Store(mailaddr.NameKey("hub-b"), r.clock())                  // its pushes hung lately
	acked, closeWatch := watchingServer(t, q, addr, "hub-b")
	defer closeWatch()

	srv, err := r.Recopy(context.Background(), goneAtWait{q, m.ID}, m.ID, nil)
	if srv != "hub-c" || err != nil {
		t.Fatalf("made again on %q (%v); want hub-c", srv, err)
	}
	if _, err := q.Message(m.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("the message is still here (%v): the test proves nothing", err)
	}
	if !acked.Load() || q.OrgDiscardOwed(m.OrgID, "hub-b") {
		t.Error("Recopy returned before hub-b's watch session fetched the discard owed to it: the message left during the wait, and a kill of this server now leaves hub-b free to take its copy over and deliver it again")
	}
}
