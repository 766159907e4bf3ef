package delivery

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// rrrcpt43IP is the loopback address of the rrrcpt43 tests (ports
// 9400-9599).
const rrrcpt43IP = "127.0.0.164"

// SR-17 (rrrcpt43, rcpt43 items 1 and 5): a made-again pass hands the
// discard owed to a server whose push got no reply (hub-b: its session
// closed after the data's end) once hub-c keeps the copy. hub-b takes
// the discard (XDISCARD answered) and then never answers the QUIT. It
// took what it was owed: it is no server that hung (hungLately), which
// would keep every receipt's discards from it for hungPassedOver, and
// the hand-over's QUIT is ended apart, as dial's is — not waited for on
// the pass's (or a receipt's, before its 250) path up to the 2 s bound.
func TestSR17DiscardHandedThenQuitUnansweredIsNoHang(t *testing.T) {
	// The hand-over's bound below the QUIT's own (2 s), far above what
	// XSHADOW and XDISCARD take on loopback: a QUIT waited for inside
	// the bound runs it out, whichever of the two is first.
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = time.Second
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rrrcpt43IP, 9400, 100), testsupport.HubScript{
		Fault: testsupport.FaultDotEOF, HangAtQuit: true, EHLO: []string{"XSHADOW 13", "8BITMIME"}})
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rrrcpt43IP, 9500, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: rrrcpt43IP + ":25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bHub.Addr()},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cHub.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 4, ShadowRetriesLocal: 0,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "c", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	// Its copy lost on hub-x (no server of the topology); hub-c is
	// marked, so hub-b is tried first.
	if err := q.MarkSingleCopy(m.ID, "hub-x", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-c", cHub.Addr())
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if srv != "hub-c" || err != nil {
		t.Fatalf("made again on %q (%v); want hub-c after hub-b's push got no reply", srv, err)
	}
	// The hand-over's session is being ended apart as the pass returns
	// (endApart: counted until its QUIT's bound, 2 s, closes it; Close
	// waits for it): the pass did not wait for hub-b's QUIT.
	r.endMu.Lock()
	ending := r.ending
	r.endMu.Unlock()
	if ending != 1 {
		t.Errorf("%d sessions being ended apart as the pass returns; want 1, the hand-over's: the pass waited for its QUIT", ending)
	}
	if bHub.Faults.Load() == 0 {
		t.Fatal("hub-b's fault never struck: the test proves nothing")
	}
	// The hand-over acknowledged: its notification forgotten (a commit
	// of the queue's, written a step after the XDISCARD's reply).
	owed := func() bool {
		for _, u := range q.UnconfirmedPushes(m.ID) {
			if u.Server == "hub-b" && u.DiscardOwed {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); owed(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("unconfirmed pushes %+v: hub-b's discard still owed; the hand-over did not reach it", q.UnconfirmedPushes(m.ID))
		}
	}
	if r.hungLately("hub-b") {
		t.Error("hub-b took its discard and only its QUIT went unanswered, yet it is marked as a server that hung: the next receipts hand it nothing for a minute")
	}
	// Its QUIT was sent all the same (apart): hub-b read it. Both
	// bounds run out within seconds: r.Close (Cleanup) waits for it.
	deadline := time.Now().Add(10 * time.Second)
	for bHub.Quits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hand-over's session got no QUIT")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SR-17 (rrrcpt43, rcpt43 item 2): a push that fails before it writes
// anything — its spooled body unreadable (the spool file gone: the
// message delivered meanwhile) — left nothing on the server, and is no
// push after which the server may hold the copy, on a pooled session
// too: DataSent was the last push's, whose data this session had
// written, and the server was counted as one that may hold the copy
// (owed a discard, its mark "no reply").
func TestSR17UnreadableBodyOnAReusedSessionHoldsNothing(t *testing.T) {
	hub := testsupport.StartHub(t, testsupport.AddrInRange(t, rrrcpt43IP, 9400, 200), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	r := rcpt43Shadow(t, routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: hub.Addr()})
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "d", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	link, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
	if err != nil {
		t.Fatal(err)
	}
	if err := link.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n"))); err != nil {
		t.Fatalf("first copy: %v", err)
	}
	link.Done(true) // pooled, its last push's data written
	link, err = r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
	if err != nil {
		t.Fatal(err)
	}
	defer link.Done(false)
	if hub.Count() != 1 {
		t.Fatalf("hub-b has %d sessions; want the pooled one reused", hub.Count())
	}
	gone := queue.SpooledBody([]byte("Subject: y\r\n\r\n"), t.TempDir()+"/gone", 0, 10)
	if err := link.Push(context.Background(), m, gone); err == nil {
		t.Fatal("a copy whose body cannot be read was pushed")
	}
	if link.(*receiptLink).MayHold() {
		t.Error("a push that wrote nothing of the copy (its body unreadable) counts hub-b as a server that may hold it")
	}
	if n := hub.Copies.Load(); n != 1 {
		t.Errorf("hub-b read %d copies; want the first only", n)
	}
}

// SR-15 (rrrcpt43, the stop's sibling): the stop's push of the discards
// owed (XDISCARD) to a shadow server that commits them and never
// answers the QUIT handed them all: its log says so, not "not all
// handed … it takes those messages over if it does not" — the push was
// judged after the QUIT, which ran out the server's bound.
func TestSR15StopPushHandedThenQuitUnansweredIsHanded(t *testing.T) {
	hub := testsupport.StartHub(t, testsupport.AddrInRange(t, rrrcpt43IP, 9400, 200), testsupport.HubScript{
		HangAtQuit: true, EHLO: []string{"XSHADOW 13", "8BITMIME"}})
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	if err := st.Update(context.Background(), func(tx *queue.Tx) error {
		return tx.AddDiscard("hub-b", orgid.New(), time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: rrrcpt43IP + ":25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: hub.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a",
		ShadowServerID: "hub-a", Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: time.Hour,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// The server's bound below the QUIT's own (2 s): a QUIT waited for
	// within it runs it out.
	d.PushOwedDiscards(context.Background(), q, time.Second)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		servers, err := q.OwedDiscardServers()
		if err == nil && len(servers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stop's push hub-a still owes %q (%v)", servers, err)
		}
	}
	if hub.Quits.Load() == 0 {
		t.Fatal("hub-b read no QUIT: the test proves nothing")
	}
	out := logs.String()
	if strings.Contains(out, "not all handed") || !strings.Contains(out, "discard notifications handed to the shadow server before the stop") {
		t.Errorf("the stop's log:\n%s\nwant the discard handed, not \"not all handed\"", out)
	}
}
