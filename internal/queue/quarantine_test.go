package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"umbra/internal/clock"
)

type eventLog struct {
	mu  sync.Mutex
	out []string
}

func (l *eventLog) Event(name string, m *Message, r *Recipient, reply string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, name+": "+reply)
	if r != nil && r.Queue != "" {
		l.out = append(l.out, name+" "+r.Queue+": "+reply) // also by the recipient's queue
	}
}

func (l *eventLog) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.out {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// A message submitted with a quarantine reason is durable but never
// attempted, survives a restart quarantined, is released into delivery
// with the reason in tracking, and resume/suspend do not bypass it.
func TestQuarantineHeldReleasedAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" })
	ev := &eventLog{}
	q := NewManager(s, d, ManagerConfig{Clock: clk, Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@example.net")
	m.Quarantine = "DMARC p=quarantine failed"
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	clean := msg(s, "a@example.org", "y@example.net")
	if err := q.Submit(ctx, clean, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if id := d.wait(t); id != clean.ID {
		t.Fatalf("attempted %s, want only the clean message %s", id, clean.ID)
	}
	clk.Advance(2 * time.Hour)
	q.Kick()
	select {
	case id := <-d.calls:
		t.Fatalf("quarantined message %s was attempted", id)
	case <-time.After(200 * time.Millisecond):
	}
	got, err := q.Message(m.ID)
	if err != nil || got.State != Quarantined || got.Quarantine != "DMARC p=quarantine failed" {
		t.Fatalf("stored: %+v, %v", got, err)
	}
	if n, size := q.QuarantineStats(); n != 1 || size != int64(len(body)) {
		t.Fatalf("stats: %d messages, %d bytes", n, size)
	}
	if !ev.has("quarantine: DMARC p=quarantine failed") {
		t.Fatalf("no quarantine event: %v", ev.out)
	}
	if err := q.ResumeMessage(ctx, m.ID); err == nil || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("resume of a quarantined message: %v", err)
	}
	if err := q.SuspendMessage(ctx, m.ID); err == nil {
		t.Fatal("suspend of a quarantined message succeeded")
	}
	qs, _ := q.Queues()
	found := false
	for _, qi := range qs {
		if qi.Name == QueueQuarantine {
			found = qi.Count == 1 && qi.Status == "held" && qi.DeliveryType == QueueQuarantine
		}
	}
	if !found {
		t.Fatalf("queue list: %+v", qs)
	}
	cancel()
	q.Wait()
	s.Close()

	// Restart: still quarantined, still not attempted, not recovered.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, d, ManagerConfig{Clock: clk, Events: ev})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	q.Kick()
	select {
	case id := <-d.calls:
		t.Fatalf("after restart, %s was attempted", id)
	case <-time.After(200 * time.Millisecond):
	}
	if got, err := q.Message(m.ID); err != nil || got.State != Quarantined {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	if err := q.ReleaseQuarantined(ctx, clean.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("release of a delivered message: %v", err)
	}
	if err := q.ReleaseQuarantined(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if id := d.wait(t); id != m.ID {
		t.Fatalf("attempted %s after release", id)
	}
	waitFor(t, "the released message to leave", func() bool { _, err := q.Message(m.ID); return errors.Is(err, ErrNotFound) })
	if !ev.has("release: released from quarantine (held for: DMARC p=quarantine failed)") {
		t.Fatalf("events: %v", ev.out)
	}
	if err := q.ReleaseQuarantined(ctx, m.ID); err == nil {
		t.Fatal("second release succeeded")
	}
}

// Delete without a DSN is silent; with one, the sender gets a failure
// DSN that does not disclose the reason. Neither touches a message that
// is not quarantined.
func TestQuarantineDelete(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 later" })
	q := NewManager(s, d, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	plain := msg(s, "a@example.org", "p@example.net")
	if err := q.Submit(ctx, plain, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "the attempt to end", func() bool { m, _ := q.Message(plain.ID); return m != nil && m.State == Ready })
	if err := q.DeleteQuarantined(ctx, plain.ID, false); !errors.Is(err, ErrNotQuarantined) {
		t.Fatalf("delete of a queued message through the quarantine: %v", err)
	}
	silent, loud := msg(s, "a@example.org", "x@example.net"), msg(s, "b@example.org", "z@example.net")
	silent.Quarantine, loud.Quarantine = "spam score 14.2", "spam score 9"
	for _, m := range []*Message{silent, loud} {
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.DeleteQuarantined(ctx, silent.ID, false); err != nil {
		t.Fatal(err)
	}
	if all := messages(t, s); len(all) != 2 {
		t.Fatalf("after a silent delete: %d messages", len(all))
	}
	if err := q.DeleteQuarantined(ctx, loud.ID, true); err != nil {
		t.Fatal(err)
	}
	var dsn *Message
	for _, m := range messages(t, s) {
		if m.Connector == "dsn" {
			dsn = m
		}
	}
	if dsn == nil || dsn.Rcpts[0].Addr != "b@example.org" || dsn.State == Quarantined {
		t.Fatalf("DSN: %+v", dsn)
	}
	b, _ := q.Body(dsn.ID)
	if !strings.Contains(string(b), "Status: 5.7.1") || strings.Contains(string(b), "spam score") {
		t.Fatalf("DSN body:\n%s", b)
	}
}

// Expiry removes quarantined mail QuarantineExpiration after arrival,
// silently by default, and not earlier — also across a clock step, whose
// shift moves arrival times with the clock.
func TestQuarantineExpiry(t *testing.T) {
	s := openTest(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" })
	ev := &eventLog{}
	q := NewManager(s, d, ManagerConfig{Clock: clk, Events: ev, QuarantineExpiration: 48 * time.Hour})
	ctx := context.Background()
	old, young := msg(s, "a@example.org", "x@example.net"), msg(s, "a@example.org", "y@example.net")
	old.Quarantine, young.Quarantine = "milter: quarantine", "milter: quarantine"
	if err := q.Submit(ctx, old, []byte(body)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	if err := q.Submit(ctx, young, []byte(body)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(23 * time.Hour)
	if n := q.pruneQuarantine(clk.Now()); n != 0 {
		t.Fatalf("expired %d before their time", n)
	}
	clk.Advance(2 * time.Hour) // old is 49 h old, young 25 h
	if n := q.pruneQuarantine(clk.Now()); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	if _, err := q.Message(old.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old: %v", err)
	}
	if _, err := q.Message(young.ID); err != nil {
		t.Fatalf("young: %v", err)
	}
	if len(messages(t, s)) != 1 {
		t.Fatal("expiry made a DSN though dsn_on_expiry is off")
	}
	if !ev.has("remove: quarantine expired") {
		t.Fatalf("events: %v", ev.out)
	}
	// The wall clock jumps a day forward; the step shift follows it.
	q.followClockStep(24 * time.Hour)
	clk.Advance(24 * time.Hour)
	if n := q.pruneQuarantine(clk.Now()); n != 0 {
		t.Fatal("a clock step expired quarantined mail")
	}
	q.SetQuarantine(48*time.Hour, true)
	clk.Advance(24 * time.Hour) // young is 49 h old by its own clock
	if n := q.pruneQuarantine(clk.Now()); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	if all := messages(t, s); len(all) != 1 || all[0].Connector != "dsn" {
		t.Fatalf("with dsn_on_expiry, want one DSN: %+v", all)
	}
}

// A quarantined message received with a shadow copy elsewhere gets its
// discard notification in the commit that stores it: no shadow server
// may take over and deliver what an edge check held back.
func TestQuarantineDiscardsShadowCopy(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" }), ManagerConfig{Clock: clk})
	m := msg(s, "a@example.org", "x@example.net")
	m.Quarantine, m.ShadowServer, m.ShadowID = "dkim fail", "hub-b", "0000000000000042-1"
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	ids, done := q.Discards("hub-b", 10)
	if len(ids) != 1 || ids[0] != "0000000000000042-1" {
		t.Fatalf("discards for hub-b: %v", ids)
	}
	done()
	if got, err := q.Message(m.ID); err != nil || got.State != Quarantined {
		t.Fatalf("the primary's copy: %+v %v", got, err)
	}
}

// The record keeps the reason; a record without one is written in the
// previous version (readable by the previous release) and decodes with
// none; a quarantine state without a reason, or the reverse, is corrupt.
func TestQuarantineRecord(t *testing.T) {
	m := &Message{ID: 7, State: Quarantined, From: "a@example.org", Quarantine: "spf fail", Rcpts: []Recipient{{Addr: "x@example.net"}}}
	b := m.encode()
	if b[0]&^recordSummed != recordVersionQuarantine {
		t.Fatalf("version %d", b[0])
	}
	got, err := decodeMessage(b)
	if err != nil || got.Quarantine != "spf fail" || got.State != Quarantined {
		t.Fatalf("%+v %v", got, err)
	}
	m.State, m.Quarantine = Ready, ""
	b = m.encode()
	if b[0]&^recordSummed != recordVersion {
		t.Fatalf("an ordinary record is written as version %d", b[0])
	}
	if got, err := decodeMessage(b); err != nil || got.Quarantine != "" {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []*Message{
		{ID: 7, State: Quarantined, Rcpts: []Recipient{{Addr: "x@example.net"}}},
		{ID: 7, State: Ready, Quarantine: "x", Rcpts: []Recipient{{Addr: "x@example.net"}}},
	} {
		if _, err := decodeMessage(bad.encode()); !errors.Is(err, errCorrupt) {
			t.Errorf("state %s reason %q decoded: %v", bad.State, bad.Quarantine, err)
		}
	}
}

// A shadow server that took over the copy of a message quarantined here
// (its discard was lost with the link) resubmits it: the copy merges
// into the quarantined original — nothing is delivered — and the
// sender's shadow copy is discarded at once, not when the quarantine
// ends (it would expire unconfirmed first and be delivered there).
func TestTakenOverCopyMergesIntoQuarantine(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" })
	q := NewManager(s, d, ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	org := "0123456789abcdef0123456789abcdef"
	orig := msg(s, "a@example.org", "x@example.net")
	orig.OrgID, orig.ShadowServer, orig.ShadowID, orig.Quarantine = org, "edge", "0001-aa", "spam"
	if err := q.Submit(ctx, orig, []byte(body)); err != nil {
		t.Fatal(err)
	}
	ids, done := q.Discards("edge", 10)
	if len(ids) != 1 || ids[0] != "0001-aa" {
		t.Fatalf("discards after quarantine: %v", ids)
	}
	done() // sent; the shadow server never got it and took its copy over
	cp := msg(s, "a@example.org", "x@example.net")
	cp.OrgID, cp.ShadowServer, cp.ShadowID = org, "edge", "0001-aa" // the same shadow id
	if err := q.Submit(ctx, cp, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(cp.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the resubmitted copy of a quarantined message was queued: %v", err)
	}
	if ids, _ := q.Discards("edge", 10); len(ids) != 1 || ids[0] != "0001-aa" {
		t.Fatalf("discards after the merge: %v", ids)
	}
	if m, err := q.Message(orig.ID); err != nil || m.State != Quarantined {
		t.Fatalf("original: %+v %v", m, err)
	}
	q.Kick()
	select {
	case id := <-d.calls:
		t.Fatalf("%s was attempted", id)
	case <-time.After(200 * time.Millisecond):
	}
}

// queuedWithOrgID lists the records here with org id org.
func queuedWithOrgID(t *testing.T, s *Store, org string) []*Message {
	t.Helper()
	var out []*Message
	if err := s.View(func(tx *Tx) error {
		for _, id := range tx.ByOrgID(org) {
			if m, err := tx.Get(id); err == nil {
				out = append(out, m)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// The red team's bypass: hub-b pushes its copy on receipt here, then
// relays the message here, where a check quarantines it. The copy must
// go in the quarantine's commit: when hub-b fails, nothing of the
// message is taken over and delivered, and the quarantined record is
// the only one left (its release delivers it once). A recipient the
// quarantined message does not hold keeps its copy.
func TestQuarantineAbsorbsCopyOnReceipt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" })
	q := NewManager(s, d, ManagerConfig{Clock: clk})
	ctx := context.Background()
	cp := receiptCopy(s, "x@example.net", "other@example.com")
	if stored, err := q.SubmitShadowCopy(ctx, cp, []byte(body), "hub-b", "127.0.0.2:25", "dbB"); err != nil || !stored {
		t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
	}
	relayed := msg(s, "a@example.org", "X@example.net")
	relayed.OrgID, relayed.ShadowServer, relayed.ShadowID, relayed.Quarantine = cp.OrgID, "hub-b", cp.OrgID, "milter: HOLD"
	if err := q.Submit(ctx, relayed, []byte(body)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(cp.ID)
	if err != nil {
		t.Fatalf("copy on receipt: %v; want it kept for the recipient the quarantine does not hold", err)
	}
	for _, r := range got.Rcpts {
		switch strings.ToLower(r.Addr) {
		case "x@example.net":
			if r.Status == Shadowed {
				t.Fatalf("recipient %s of the quarantined message still shadowed in the copy", r.Addr)
			}
		case "other@example.com":
			if r.Status != Shadowed {
				t.Fatalf("recipient %s not held by the quarantine: %s, want shadowed", r.Addr, r.Status)
			}
		}
	}
	// hub-b fails; the copy is taken over for what it still holds only.
	if _, err := q.Takeover("hub-b", "heartbeats failed"); err != nil {
		t.Fatal(err)
	}
	// Closing and reopening proves the state was committed.
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	owing := 0
	for _, m := range queuedWithOrgID(t, s, cp.OrgID) {
		for _, r := range m.Rcpts {
			if strings.EqualFold(r.Addr, "x@example.net") && m.State != Quarantined && !r.Status.Done() {
				t.Fatalf("%s (%s) would deliver %s outside the quarantine", m.ID, m.State, r.Addr)
			}
			if m.State == Quarantined {
				owing++
			}
		}
	}
	if owing != 1 {
		t.Fatalf("%d quarantined recipients of the message, want 1", owing)
	}
}

// A copy that is wholly the quarantined message's is removed, and one
// that arrives after the message was quarantined here is not stored.
func TestQuarantineCopyOnReceiptEitherOrder(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()

	cp := receiptCopy(s, "x@example.net")
	if _, err := q.SubmitShadowCopy(ctx, cp, []byte(body), "hub-b", "127.0.0.2:25", "dbB"); err != nil {
		t.Fatal(err)
	}
	first := msg(s, "a@example.org", "x@example.net")
	first.OrgID, first.Quarantine = cp.OrgID, "spam"
	if err := q.Submit(ctx, first, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(cp.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("copy before the quarantine: %v; want it removed in the quarantine's commit", err)
	}

	late := receiptCopy(s, "y@example.net")
	held := msg(s, "a@example.org", "y@example.net")
	held.OrgID, held.Quarantine = late.OrgID, "spam"
	if err := q.Submit(ctx, held, []byte(body)); err != nil {
		t.Fatal(err)
	}
	stored, err := q.SubmitShadowCopy(ctx, late, []byte(body), "hub-b", "127.0.0.2:25", "dbB")
	if err != nil || stored {
		t.Fatalf("copy after the quarantine: stored=%v, %v; want not stored", stored, err)
	}
	if n, err := q.Takeover("hub-b", "heartbeats failed"); err != nil || n != 0 {
		t.Fatalf("Takeover = %d, %v; want nothing to take over", n, err)
	}
	for _, org := range []string{cp.OrgID, late.OrgID} {
		if ms := queuedWithOrgID(t, s, org); len(ms) != 1 || ms[0].State != Quarantined {
			t.Fatalf("records of %s: %d, want the quarantined one only", org, len(ms))
		}
	}
}

// The same message relayed here twice by a trusted server (it restarted
// before it noted the first relay; no shadow session: its copy is on
// receipt) is one quarantine record, whose release delivers it once.
func TestQuarantineSameMessageTwiceIsOneRecord(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" })
	q := NewManager(s, d, ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	org := "0123456789abcdef0123456789abcdef"
	for i, reason := range []string{"milter: HOLD", "milter: HOLD", ""} {
		m := msg(s, "a@example.org", "x@example.net")
		m.OrgID, m.Quarantine = org, reason
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatalf("arrival %d: %v", i, err)
		}
	}
	ms := queuedWithOrgID(t, s, org)
	if len(ms) != 1 || ms[0].State != Quarantined {
		t.Fatalf("%d records of the message, want one quarantined", len(ms))
	}
	if err := q.ReleaseQuarantined(ctx, ms[0].ID); err != nil {
		t.Fatal(err)
	}
	if id := d.wait(t); id != ms[0].ID {
		t.Fatalf("attempted %s, want %s", id, ms[0].ID)
	}
	select {
	case id := <-d.calls:
		t.Fatalf("a second copy %s was attempted", id)
	case <-time.After(200 * time.Millisecond):
	}
}

// A check's reason (a milter's free text) is stored bounded, cut on a
// character boundary with a marker.
func TestQuarantineReasonBounded(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	m := msg(s, "a@example.org", "x@example.net")
	m.Quarantine = "milter: " + strings.Repeat("é", 100000)
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Quarantine) > MaxQuarantineReason || !strings.HasSuffix(got.Quarantine, reasonCut) ||
		!strings.HasPrefix(got.Quarantine, "milter: é") || !utf8.ValidString(got.Quarantine) {
		t.Fatalf("stored reason: %d bytes, %q…", len(got.Quarantine), got.Quarantine[:20])
	}
	short := msg(s, "a@example.org", "y@example.net")
	short.Quarantine = strings.Repeat("r", MaxQuarantineReason)
	if err := q.Submit(context.Background(), short, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(short.ID); got == nil || got.Quarantine != short.Quarantine {
		t.Fatal("a reason within the bound was changed")
	}
}

// queue list's IN/MIN and OUT/MIN count the quarantine's arrivals and
// releases.
func TestQuarantineRates(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	ctx := context.Background()
	var ids []ID
	for _, rc := range []string{"x@example.net", "y@example.net"} {
		m := msg(s, "a@example.org", rc)
		m.Quarantine = "spam"
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if err := q.ReleaseQuarantined(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, qi := range qs {
		if qi.Name == QueueQuarantine {
			if qi.IncomingRate != 2 || qi.OutgoingRate != 1 {
				t.Fatalf("quarantine IN/MIN %v OUT/MIN %v, want 2 and 1", qi.IncomingRate, qi.OutgoingRate)
			}
			return
		}
	}
	t.Fatalf("no quarantine queue in %+v", qs)
}

// message remove on a quarantined message is the quarantine's delete:
// tracked so, and counted out of the quarantine.
func TestRemoveQuarantinedIsQuarantineDelete(t *testing.T) {
	s := openTest(t)
	ev := &eventLog{}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Events: ev})
	ctx := context.Background()
	m := msg(s, "a@example.org", "x@example.net")
	m.Quarantine = "spam"
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.RemoveMessage(ctx, m.ID, true); err != nil {
		t.Fatal(err)
	}
	if !ev.has("remove: deleted from quarantine by the administrator") || ev.has("remove: removed by the administrator") {
		t.Fatalf("events: %v", ev.out)
	}
	if _, err := q.Message(m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("still queued: %v", err)
	}
}

// A copy taken over before its message was quarantined here (hub-b
// failed before it relayed the message here, then came back and
// relayed it): the quarantine reaches the taken-over recipients too —
// delivering them would deliver the message outside the quarantine, and
// its release would deliver it again. A recipient the quarantine does
// not hold stays taken over; a copy left with nothing goes.
func TestQuarantineReachesTakenOverCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	cp := receiptCopy(s, "x@example.net", "other@example.com")
	if stored, err := q.SubmitShadowCopy(ctx, cp, []byte(body), "hub-b", "127.0.0.2:25", "dbB"); err != nil || !stored {
		t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
	}
	whole := receiptCopy(s, "y@example.net")
	if stored, err := q.SubmitShadowCopy(ctx, whole, []byte(body), "hub-b", "127.0.0.2:25", "dbB"); err != nil || !stored {
		t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
	}
	if n, err := q.Takeover("hub-b", "heartbeats failed"); err != nil || n != 2 {
		t.Fatalf("Takeover = %d, %v", n, err)
	}
	for _, c := range []*Message{cp, whole} {
		rel := msg(s, "a@example.org", strings.ToUpper(c.Rcpts[0].Addr))
		rel.OrgID, rel.ShadowServer, rel.ShadowID, rel.Quarantine = c.OrgID, "hub-b", c.OrgID, "milter: HOLD"
		if err := q.Submit(ctx, rel, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, org := range []string{cp.OrgID, whole.OrgID} {
		quarantined, other := 0, 0
		for _, m := range queuedWithOrgID(t, s, org) {
			if m.State == Quarantined {
				quarantined++
				continue
			}
			for _, r := range m.Rcpts {
				switch {
				case strings.EqualFold(r.Addr, "other@example.com"):
					if r.Status != Pending {
						t.Fatalf("recipient %s the quarantine does not hold: %s, want pending (taken over)", r.Addr, r.Status)
					}
					other++
				case !r.Status.Done():
					t.Fatalf("%s (%s) would deliver %s (%s) outside the quarantine", m.ID, m.State, r.Addr, r.Status)
				}
			}
		}
		if quarantined != 1 {
			t.Fatalf("records of %s: %d quarantined, want 1", org, quarantined)
		}
		if org == whole.OrgID && len(queuedWithOrgID(t, s, org)) != 1 {
			t.Fatalf("a taken-over copy wholly the quarantined message's is kept: %d records", len(queuedWithOrgID(t, s, org)))
		}
		if org == cp.OrgID && other != 1 {
			t.Fatalf("the recipient the quarantine does not hold: %d, want 1", other)
		}
	}
}

// The copy a shadow server took over merges into the quarantined
// original only for the recipients the original holds, compared as
// umbra compares addresses (mailaddr.AddrKey): ASCII case and the form
// of an internationalised domain aside, a non-ASCII capital never
// (Émile@ and émile@ are two mailboxes, as RCPT and the Maildir take
// them): the other mailbox's copy is queued, not absorbed into a
// quarantine that does not hold it.
func TestTakenOverCopyMergesByAddrKey(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// Not started: what is checked is the copy's record as its
	// submission committed it. A running scheduler may deliver the
	// queued mailbox and remove the copy before it is read.
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	org := "0123456789abcdef0123456789abcdee"
	orig := msg(s, "a@example.org", "Émile@example.net", "anna@bücher.example")
	orig.OrgID, orig.ShadowServer, orig.ShadowID, orig.Quarantine = org, "edge", "0001-ab", "spam"
	if err := q.Submit(ctx, orig, []byte(body)); err != nil {
		t.Fatal(err)
	}
	_, done := q.Discards("edge", 10)
	done()
	cp := msg(s, "a@example.org", "émile@example.net", "anna@xn--bcher-kva.example")
	cp.OrgID, cp.ShadowServer, cp.ShadowID = org, "edge", "0001-ab"
	if err := q.Submit(ctx, cp, []byte(body)); err != nil {
		t.Fatal(err)
	}
	m, err := q.Message(cp.ID)
	if err != nil {
		t.Fatalf("the copy of another mailbox was absorbed: %v", err)
	}
	for _, r := range m.Rcpts {
		merged := strings.HasPrefix(r.LastReply, "merged into quarantined")
		if want := r.Addr == "anna@xn--bcher-kva.example"; merged != want {
			t.Errorf("%s: merged %v (%q), want %v", r.Addr, merged, r.LastReply, want)
		} else if !want && r.Status != Pending {
			t.Errorf("%s: %s, want pending (queued in the copy)", r.Addr, r.Status)
		}
	}
}
