package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// putCopy stores a shadow copy kept for primary, as the commit of a
// ShadowedOK result leaves it.
func putCopy(t *testing.T, s *Store, primary string) *Message {
	t.Helper()
	m := msg(s, "a@example.org", "b@example.net", "c@example.net")
	m.State = Shadow
	sid := m.ID.String() + "-abcd"
	for i := range m.Rcpts {
		m.Rcpts[i].Status, m.Rcpts[i].Primary, m.Rcpts[i].ShadowID = Shadowed, primary, sid
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// F8: suspend, resume and retry of a shadow copy are refused with
// ErrShadowCopy and leave it a copy; a bulk selection skips copies.
func TestShadowCopyRefusesOperatorDelivery(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	m := putCopy(t, s, "hub1.sb.test")
	ctx := context.Background()
	for name, act := range map[string]func(context.Context, ID) error{
		"suspend": q.SuspendMessage, "resume": q.ResumeMessage, "retry": q.RetryMessage} {
		if err := act(ctx, m.ID); !errors.Is(err, ErrShadowCopy) {
			t.Errorf("%s of a shadow copy: %v", name, err)
		}
		got := messages(t, s)[0]
		if got.State != Shadow {
			t.Fatalf("after %s: state %s", name, got.State)
		}
		if BulkSkip(name, got) != "shadow copies" {
			t.Errorf("bulk %s does not skip a copy", name)
		}
	}
	if BulkSkipForce("remove", m, true) != "" {
		t.Error("remove --force skips a copy")
	}
}

// F8: a record none of whose recipients is pending or shadowed (here a
// copy resumed by an earlier release, whose discard then marked every
// recipient relayed) leaves the database when the scheduler finds it,
// tracked as removed.
func TestRecordWithNothingLeftIsRemoved(t *testing.T) {
	s := openTest(t)
	m := putCopy(t, s, "hub1.sb.test")
	m.State, m.NextAttempt = Ready, time.Now()
	for i := range m.Rcpts {
		m.Rcpts[i].Status = Relayed
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Put(m) }); err != nil {
		t.Fatal(err)
	}
	ev := &eventLog{}
	q := NewManager(s, newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" }), ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the record with nothing left to go", func() bool { return len(messages(t, s)) == 0 })
	waitFor(t, "the removal tracked", func() bool { return ev.has("remove: every recipient done") })
}

// A copy released from the shadow state by an earlier release (Ready,
// recipients still shadowed) is a copy again when the scheduler finds
// it, and its primary's discard then removes it.
func TestResumedCopyBecomesCopyAndDiscardRemovesIt(t *testing.T) {
	s := openTest(t)
	m := putCopy(t, s, "hub1.sb.test")
	m.State, m.NextAttempt = Ready, time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Put(m) }); err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" }), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "a copy again", func() bool { ms := messages(t, s); return len(ms) == 1 && ms[0].State == Shadow })
	if _, err := q.ShadowPresented("hub1.sb.test", "", []string{m.Rcpts[0].ShadowID}); err != nil {
		t.Fatal(err)
	}
	if ms := messages(t, s); len(ms) != 0 {
		t.Fatalf("the discarded copy stays: %s", ms[0].State)
	}
	// A suspended copy (from before suspend refused copies) goes too.
	m2 := putCopy(t, s, "hub1.sb.test")
	m2.State = Suspended
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Put(m2) }); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowPresented("hub1.sb.test", "", []string{m2.Rcpts[0].ShadowID}); err != nil {
		t.Fatal(err)
	}
	if ms := messages(t, s); len(ms) != 0 {
		t.Fatalf("the discarded suspended copy stays: %s", ms[0].State)
	}
}

// A takeover recorded while the message was in delivery and applied when
// it leaves delivery without results (here Recover after a crash) is
// tracked like one applied by the commit of results.
func TestEarlyTakeoverAppliedAtRecoverIsTracked(t *testing.T) {
	s := openTest(t)
	m := putCopy(t, s, "hub1.sb.test")
	m.State = Active
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		return tx.AddEarlyTakeover(m.ID, "hub1.sb.test", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	ev := &eventLog{}
	q := NewManager(s, nil, ManagerConfig{Events: ev})
	if rec, _, err := q.Recover(context.Background()); err != nil || rec != 1 {
		t.Fatalf("recover: %d %v", rec, err)
	}
	if got := messages(t, s)[0]; len(got.Pending()) != 2 {
		t.Fatalf("the takeover was not applied: %+v", got.Rcpts)
	}
	if !ev.has("takeover: taken over while in delivery") {
		t.Fatalf("takeover not tracked: %v", ev.out)
	}
}

// A record with nothing left that has a shadow copy elsewhere takes the
// copy with it: the removal prepares the discard notification, as an
// operator's removal does.
func TestRecordWithNothingLeftDiscardsItsCopy(t *testing.T) {
	s := openTest(t)
	m := msg(s, "a@example.org", "b@example.net")
	m.State, m.NextAttempt = Ready, time.Now()
	m.ShadowServer, m.ShadowID = "hub2.sa.test", "0123-abcd"
	m.Rcpts[0].Status = Relayed
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" }), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the record with nothing left to go", func() bool { return len(messages(t, s)) == 0 })
	var ids []string
	s.View(func(tx *Tx) error { ids = tx.Discards("hub2.sa.test", 10); return nil })
	if len(ids) != 1 || ids[0] != "0123-abcd" {
		t.Fatalf("discards for the copy: %v", ids)
	}
}

// rt36 F1: an operator's removal of a shadow copy left the primary's
// message on one server's disk, and the primary never learned it. By id
// it is refused (ErrShadowCopy, naming the primary and --force); a bulk
// removal (--all, a filter) skips copies; its dry run predicts the
// refusal. RemoveMessageForce removes it, with its discard bookkeeping
// as before. A copy taken over (nothing shadowed) is this server's mail
// and is removed as any.
func TestRemoveShadowCopyNeedsForce(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	m := putCopy(t, s, "hub1.sb.test")
	ctx := context.Background()
	err := q.RemoveMessage(ctx, m.ID, false)
	if !errors.Is(err, ErrShadowCopy) || !strings.Contains(err.Error(), "hub1.sb.test") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("remove of a shadow copy: %v; want ErrShadowCopy naming the primary and --force", err)
	}
	// rr notopo38: true without a topology too, where the primary has no
	// address for this server and never probes it.
	if !strings.Contains(err.Error(), "at its next probe of this server") || !strings.Contains(err.Error(), "without a topology") || !strings.Contains(err.Error(), "never probes it") {
		t.Errorf("remove of a shadow copy: %v; want it to say a primary without a topology never learns of it", err)
	}
	if got := messages(t, s); len(got) != 1 || got[0].State != Shadow {
		t.Fatalf("after a refused remove: %+v", got)
	}
	if BulkSkip("remove", m) != "shadow copies" || BulkSkipForce("remove", m, true) != "" {
		t.Errorf("bulk remove: skip %q, forced %q; want a copy skipped unless forced", BulkSkip("remove", m), BulkSkipForce("remove", m, true))
	}
	if err := q.StateView().Refusal("remove", m); !errors.Is(err, ErrShadowCopy) {
		t.Errorf("dry run of remove of a shadow copy: %v", err)
	}
	if err := q.RemoveMessageForce(ctx, m.ID, false); err != nil {
		t.Fatalf("forced remove: %v", err)
	}
	if got := messages(t, s); len(got) != 0 {
		t.Fatalf("after a forced remove: %+v", got)
	}
	taken := putCopy(t, s, "hub1.sb.test")
	if err := s.Update(ctx, func(tx *Tx) error {
		got, err := tx.Get(taken.ID)
		if err != nil {
			return err
		}
		takeoverRcpts(got, "hub1.sb.test", "test")
		got.State = Ready
		return tx.Put(got)
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.RemoveMessage(ctx, taken.ID, false); err != nil {
		t.Fatalf("remove of a taken-over copy: %v", err)
	}
}

// rt36 F4: a hold discards the message's shadow copy (hold.go), so after
// `message resume` the message is on this server's disk alone — and no
// view said so. The resume marks it held by this server only (shadow
// single, message show, umbra_shadow_single_copy_messages), and the
// re-make pass makes its copy again as for any such message. A message
// that never had a copy is not marked (nothing was promised).
func TestResumedMessageIsSingleCopy(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	ctx := context.Background()
	m := msg(s, "a@example.org", "b@example.net")
	m.OrgID = "org-1"
	m.ShadowServer, m.ShadowID = "hub-b.example", "org-1"
	plain := msg(s, "a@example.org", "c@example.net")
	for _, x := range []*Message{m, plain} {
		x.State, x.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(x, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		if err := q.SuspendMessage(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.ResumeMessage(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok || sc.Lost != "hub-b.example" {
		t.Fatalf("resumed message whose copy the hold discarded: mark %+v, %v; want held by this server only", sc, ok)
	}
	// rt20f F4: the mark says the hold discarded the copy, not that it
	// was lost; a mark of the previous release (no kind) reads as before.
	if sc.How != HowHeld || !strings.Contains(sc.String(), "discarded when the message was held") || strings.Contains(sc.String(), "was lost") {
		t.Fatalf("resumed message's mark: how %q, %q; want it discarded by the hold", sc.How, sc.String())
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.markSingleKind(plain.ID, "hub-b.example", time.Now(), nil) }); err != nil {
		t.Fatal(err)
	}
	if old, ok := q.SingleCopyOf(plain.ID); !ok || old.How != "" || !strings.HasSuffix(old.String(), "its shadow copy on hub-b.example was lost") {
		t.Fatalf("a mark without a kind: %+v %q; want it read as a lost copy", old, old.String())
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.dropMark(plain.ID.Key()) }); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.SingleCopyOf(plain.ID); ok {
		t.Fatal("a resumed message that never had a copy is marked")
	}
	list, err := q.SingleCopies()
	if err != nil || len(list) != 1 || list[0].ID != m.ID || q.SingleCopyCount() != 1 {
		t.Fatalf("shadow single: %+v %v, count %d", list, err, q.SingleCopyCount())
	}
}

// The quarantine settles a message's shadow copy as a hold does
// (submit.go): a release leaves it on this disk alone, and it is marked
// held by this server only as a resumed message is (rt36 F4's sibling).
func TestReleasedFromQuarantineIsSingleCopy(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	ctx := context.Background()
	m := msg(s, "a@example.org", "b@example.net")
	m.OrgID = "org-2"
	m.ShadowServer, m.ShadowID = "hub-b.example", "org-2"
	m.State, m.Quarantine = Quarantined, "spf fail"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if err := q.ReleaseQuarantined(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Lost != "hub-b.example" || sc.How != HowQuarantined ||
		!strings.Contains(sc.String(), "discarded when the message was quarantined") {
		t.Fatalf("message released from quarantine: mark %+v %q, %v; want held by this server only, its copy discarded by the quarantine", sc, sc.String(), ok)
	}
}

// A message quarantined on receipt on a connector with shadow on receipt
// got no copy (smtp: NoCopy): the quarantine held it on this disk alone,
// and its release must mark it held by this server only, as a message
// accepted "no shadow copy" is, so that the views name it and the
// holders' pass makes its copy (F1). The fact is stored with the record:
// a restart between the quarantine and the release keeps it. A
// quarantined message that never wanted a copy is not marked.
func TestReleasedAfterQuarantineOnReceiptIsSingleCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{})
	ctx := context.Background()
	m := msg(s, "a@example.org", "b@example.net")
	m.Quarantine, m.NoCopy = "dmarc fail", true
	plain := msg(s, "a@example.org", "c@example.net")
	plain.Quarantine = "dmarc fail"
	for _, x := range []*Message{m, plain} {
		if err := q.Submit(ctx, x, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := q.SingleCopyOf(m.ID); ok {
		t.Fatal("a quarantined message is listed held by this server only while it is held by the quarantine")
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, nil, ManagerConfig{})
	for _, x := range []*Message{m, plain} {
		if err := q.ReleaseQuarantined(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Lost != "" {
		t.Fatalf("released message quarantined on receipt without a copy: mark %+v, %v; want held by this server only", sc, ok)
	}
	if _, ok := q.SingleCopyOf(plain.ID); ok {
		t.Fatal("a released message that never wanted a copy is marked")
	}
	list, err := q.SingleCopies()
	if err != nil || len(list) != 1 || list[0].ID != m.ID || q.SingleCopyCount() != 1 {
		t.Fatalf("shadow single: %+v %v, count %d", list, err, q.SingleCopyCount())
	}
}
