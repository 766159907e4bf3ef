package queue

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// shadowPlanned is planned whose recipients at hubc.test are handed to
// transport server hub-c in a shadow session (ShadowedOK): hub-c keeps
// the original, this server the copy.
type shadowPlanned struct{ *planned }

func (p shadowPlanned) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	out := p.planned.Deliver(ctx, m, body, rcpts)
	if domainOf(m.Rcpts[rcpts[0]].Addr) != "hubc.test" {
		return out
	}
	for k, r := range out {
		if r.Outcome == RelayedOK {
			out[k] = Result{Rcpt: r.Rcpt, Outcome: ShadowedOK, Primary: "hub-c", PrimaryAddr: "127.0.0.3:25",
				ShadowID: m.ID.String() + "-1", PrimaryDB: "db-c", NextHop: "hub-c", Queue: "hub:site-c", Reply: "250 queued"}
		}
	}
	return out
}

// reread22a F1 (SR-4): a hand-off to another transport server in a
// shadow session is committed when its job ends, as a relay is: while
// y@'s job hangs, x@ is shadowed in the record (hub-c holds the
// original, its peer record made), and hub-b, which holds this
// message's copy, is owed x@'s partial discard — not only at the
// attempt's end, up to data_timeout later, or a kill -9 between leaves
// x@ pending here and at hub-b, and hub-b's takeover hands it on again.
// The attempt's end writes no second event and owes nothing more.
func TestShadowedJobCommittedWhileAnotherJobHangs(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["hung.test"] = true
	ev := &rcptEvents{}
	q := NewManager(s, shadowPlanned{p}, ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(p.stop)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	m := copiedMessage(s, "x@hubc.test", "y@hung.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x@'s hand-off to hub-c committed while y@'s job hangs", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.Rcpts[0].Status == Shadowed && ev.count("shadow x@hubc.test") > 0 // events follow the commit
	})
	got, _ := q.Message(m.ID)
	x := got.Rcpts[0]
	if got.State != Active || got.Rcpts[1].Status != Pending || got.Attempts != 0 {
		t.Fatalf("in delivery: state %v, y@ %v, attempts %d; want active, pending, 0", got.State, got.Rcpts[1].Status, got.Attempts)
	}
	if x.Primary != "hub-c" || x.PrimaryAddr != "127.0.0.3:25" || x.ShadowID != m.ID.String()+"-1" {
		t.Fatalf("x@ shadowed for %q at %q under %q; want hub-c, 127.0.0.3:25, %s-1", x.Primary, x.PrimaryAddr, x.ShadowID, m.ID)
	}
	var peer *ShadowPeer
	if err := s.View(func(tx *Tx) error { var err error; peer, err = tx.Peer("hub-c"); return err }); err != nil {
		t.Fatal(err)
	}
	if peer == nil || peer.DatabaseID != "db-c" {
		t.Fatalf("hub-c's peer record while y@ hangs: %+v; want one with database db-c", peer)
	}
	partial := PartialDiscard{ID: m.OrgID, Addr: "x@hubc.test"}.Wire()
	if owed := owedTo(q, "hub-b"); !slices.Equal(owed, []string{partial}) {
		t.Fatalf("owed to hub-b while y@ hangs: %q; want only the partial discard %q", owed, partial)
	}

	close(p.stop) // y@'s next hop times out
	released = true
	waitFor(t, "the attempt's end", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Ready && ev.count("defer y@hung.test") > 0
	})
	got, _ = q.Message(m.ID)
	if got.Rcpts[0].Status != Shadowed || got.Rcpts[0].Primary != "hub-c" || got.Rcpts[1].Status != Pending || got.Attempts != 1 {
		t.Fatalf("after the attempt: x@ %v for %q, y@ %v, attempts %d; want shadowed for hub-c, pending, 1",
			got.Rcpts[0].Status, got.Rcpts[0].Primary, got.Rcpts[1].Status, got.Attempts)
	}
	if owed := owedTo(q, "hub-b"); !slices.Equal(owed, []string{partial}) {
		t.Fatalf("owed to hub-b after the attempt: %q; want only the partial discard %q", owed, partial)
	}
	if a, b := ev.count("shadow x@hubc.test"), ev.count("defer y@hung.test"); a != 1 || b != 1 {
		t.Fatalf("events: %d shadow for x@, %d defer for y@; want one each", a, b)
	}
}

// A kill -9 between that commit and the attempt's end: the restarted
// server hands x@ to hub-c no more (its copy waits for hub-c's discard),
// attempts y@ again, and keeps the record as x@'s copy.
func TestCrashAfterShadowedJobCommitHandsOnOnce(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["hung.test"] = true
	q := NewManager(s, shadowPlanned{p}, ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := copiedMessage(s, "x@hubc.test", "y@hung.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x@'s hand-off committed while y@'s job hangs", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.Rcpts[0].Status == Shadowed
	})
	crashed := filepath.Join(t.TempDir(), "queue.db")
	f, err := os.Create(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(crashed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	p2 := newPlanned()
	q2 := NewManager(s2, shadowPlanned{p2}, ManagerConfig{})
	if n, _, err := q2.Recover(context.Background()); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want the message in delivery at the crash", n, err)
	}
	partial := PartialDiscard{ID: m.OrgID, Addr: "x@hubc.test"}.Wire()
	if owed := owedTo(q2, "hub-b"); !slices.Contains(owed, partial) {
		t.Fatalf("owed to hub-b after the restart: %q; want x@'s partial discard %q", owed, partial)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { close(p2.stop); cancel2(); q2.Wait() }()
	q2.Start(ctx2)
	waitFor(t, "the restarted server's attempt", func() bool {
		got, err := q2.Message(m.ID)
		return err == nil && got.State == Shadow
	})
	if a, b := p2.count(p2.calls, "hubc.test"), p2.count(p2.done, "hung.test"); a != 0 || b != 1 {
		t.Fatalf("after the restart: x@ handed to hub-c %d times, y@ relayed %d; want 0 (committed before the crash) and 1", a, b)
	}
}

// A hand-off to a primary this server knows with another database than
// the one the copy was made with (replaced while the attempt ran) is
// not committed by its job: the attempt's end takes it over, as before.
func TestShadowedJobToReplacedPrimaryLeftToTheEnd(t *testing.T) {
	s := openTest(t)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		return tx.notePeer("hub-c", "127.0.0.3:25", "db-old", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	p := newPlanned()
	p.stall["hung.test"] = true
	ev := &rcptEvents{}
	q := NewManager(s, shadowPlanned{p}, ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(p.stop)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	m := copiedMessage(s, "x@hubc.test", "w@fast.test", "y@hung.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	// w@'s relay, committed by its job, shows the jobs' commits ran.
	waitFor(t, "w@'s relay committed while y@'s job hangs", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.Rcpts[1].Status == Relayed && p.count(p.calls, "hubc.test") == 1
	})
	waitFor(t, "x@'s job ended", func() bool { return p.count(p.done, "hubc.test") == 1 })
	got, _ := q.Message(m.ID)
	if got.Rcpts[0].Status != Pending || ev.count("shadow x@hubc.test") != 0 {
		t.Fatalf("x@ %v with %d shadow events while y@ hangs; want pending, none (left to the end)", got.Rcpts[0].Status, ev.count("shadow x@hubc.test"))
	}
	close(p.stop)
	released = true
	waitFor(t, "the attempt's end", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Ready && ev.count("defer y@hung.test") > 0
	})
	got, _ = q.Message(m.ID)
	if got.Rcpts[0].Status != Pending {
		t.Fatalf("after the attempt: x@ %v; want pending again (taken over: hub-c has another database)", got.Rcpts[0].Status)
	}
}
