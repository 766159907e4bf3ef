package queue

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// `message resume` of a poison message makes it as if just received
// (releasedFromHold): its expiry counts from the resume. The poison
// queue kept its shadow copy (hold.go: held by umbra, not settled), and
// the copy's holder takes it over by the copy's own receipt time +
// message_expiration + the grace (shadowprimary.go) — a hold longer
// than the grace, a resume and a destination that keeps deferring, and
// the holder routes the copy while this server still retries the
// message: delivered twice. The resume settles the copy as a
// suspend's release has it settled: the discard is owed to its holder
// in the resume's commit, and the message is marked held by this
// server only, so that its copy is made again with the new time. A
// poison message with no copy elsewhere owes nothing and is not marked,
// nor one whose body here is unreadable: its copy is the sound one, and
// the resume's attempt gives the message to the holder (rt43 F4).
func TestQ2ResumeOfPoisonMessageSettlesItsShadowCopy(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, nil, ManagerConfig{Clock: clk, Hostname: "edge.test", MessageExpiration: 5 * time.Minute})
	ctx := context.Background()
	put := func(server, sid string, spool bool) *Message {
		m := msg(s, "a@example.org", "x@example.net")
		m.OrgID = sid
		m.ShadowServer, m.ShadowID = server, sid
		m.State, m.Arrived, m.CrashCount, m.LastError = Poison, clk.Now(), 3, "crashed the server 3 times"
		var b Body
		if spool {
			b = spooled(t, s, bigContent(300<<10))
		}
		if err := s.Update(ctx, func(tx *Tx) error {
			if spool {
				return tx.PutNewBody(m, b)
			}
			return tx.PutNew(m, []byte(body))
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	copied, alone := put("hub-b.example", "org-p1", false), put("", "", false)
	damaged := put("hub-b.example", "org-p2", true)
	if err := s.View(func(tx *Tx) error {
		b, err := tx.BodyOf(damaged.ID)
		if err != nil {
			return err
		}
		p, _, _ := b.File()
		return os.Truncate(p, 1000)
	}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := q.Discards("hub-b.example", 10); len(ids) != 0 {
		t.Fatalf("discards owed while poison: %v; the poison queue keeps the copy", ids)
	}
	clk.Advance(2 * time.Hour) // longer than the holder's grace
	for _, m := range []*Message{copied, alone, damaged} {
		if err := q.ResumeMessage(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	var got *Message
	err = s.View(func(tx *Tx) (e error) { got, e = tx.Get(copied.ID); return e })
	if err != nil {
		t.Fatal(err)
	}
	if !got.Arrived.Equal(clk.Now()) || got.State != Ready {
		t.Fatalf("resumed: arrived %v state %v; want as if just received", got.Arrived, got.State)
	}
	if ids, _ := q.Discards("hub-b.example", 10); !slices.Equal(ids, []string{"org-p1"}) {
		t.Fatalf("discards owed to the copy's holder after the resume: %v; want its copy settled (it would expire there by the old arrival)", ids)
	}
	if sc, ok := q.SingleCopyOf(copied.ID); !ok || sc.Lost != "hub-b.example" {
		t.Fatalf("resumed poison message whose copy was settled: mark %+v, %v; want held by this server only, its copy made again", sc, ok)
	}
	if _, ok := q.SingleCopyOf(alone.ID); ok {
		t.Fatal("a resumed poison message that never had a copy is marked")
	}
	if _, ok := q.SingleCopyOf(damaged.ID); ok {
		t.Fatal("a resumed poison message whose body here is unreadable is marked: its copy elsewhere is the sound one")
	}
	if n := q.SingleCopyCount(); n != 1 {
		t.Fatalf("single-copy count %d, want 1", n)
	}
}
