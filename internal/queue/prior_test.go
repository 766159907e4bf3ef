package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// fixe19 item 2, the crash argument of Message.Prior: the delivery of a
// message's first attempt (no attempt of this server began on it)
// writes into a mailbox without searching it (PriorNone); every attempt
// after one that began — deferred and retried, or cut by a crash and
// made Ready by Recover — searches (PriorAttempt); a redelivery
// request's copy searches by header too, under its request's scan name.
func TestPriorSaysWhetherAnAttemptBegan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fresh := msg(s, "a@example.org", "fresh@example.net") // stored Ready: claimed for its first attempt
	crashed := msg(s, "a@example.org", "crashed@example.net")
	crashed.State = Active // an attempt began, and the process died
	redelivered := msg(s, "a@example.org", "again@example.net")
	if err := s.Update(ctx, func(tx *Tx) error {
		for _, m := range []*Message{fresh, crashed, redelivered} {
			m.Arrived, m.NextAttempt = time.Now(), time.Now()
			if m.State == 0 {
				m.State = Ready
			}
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
		}
		return tx.MarkRedelivery(redelivered.ID, "r4/0001")
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := clock.NewFake(time.Now())
	d := newScripted(func(addr string, n int) (Outcome, string) {
		if addr == "fresh@example.net" && n == 1 {
			return Deferred, "451 4.2.0 mailbox busy"
		}
		return DeliveredOK, "250 2.0.0 delivered"
	})
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk, RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: time.Hour})
	if _, _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); q.Wait() }()
	q.Start(cctx)
	q.Kick()
	for range 3 {
		d.wait(t)
	}
	clk.Advance(2 * time.Minute)
	q.Kick()
	d.wait(t)
	d.mu.Lock()
	defer d.mu.Unlock()
	type seen struct {
		prior Prior
		scan  string
	}
	want := map[string][]seen{
		"fresh@example.net":   {{PriorNone, ""}, {PriorAttempt, ""}},
		"crashed@example.net": {{PriorRedelivery, ""}}, // rt19h F2: by name and header
		"again@example.net":   {{PriorRedelivery, "r4/0001"}},
	}
	got := map[string][]seen{}
	for _, m := range d.seen {
		got[m.Rcpts[0].Addr] = append(got[m.Rcpts[0].Addr], seen{m.Prior, m.Scan})
	}
	for a, w := range want {
		if len(got[a]) != len(w) {
			t.Errorf("%s: attempts %v, want %v", a, got[a], w)
			continue
		}
		for i := range w {
			if got[a][i] != w[i] {
				t.Errorf("%s attempt %d: prior %v, want %v", a, i+1, got[a][i], w[i])
			}
		}
	}
}

// mendx19 item 1: a redelivered message attempted again after a second
// lost attempt (two crashes, or a crash and a failed commit) is still a
// redelivery: its repeat keeps the request's scan name, so the Maildir
// writer still finds a copy a reader renamed by its header.
func TestRepeatOfARepeatKeepsTheRedelivery(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := msg(s, "a@example.org", "again@example.net")
	m.State, m.Arrived, m.NextAttempt = Ready, time.Now(), time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		if err := tx.MarkRedelivery(m.ID, "r4/0001"); err != nil {
			return err
		}
		for n := 1; n <= 3; n++ {
			if err := tx.markRepeat(m.ID); err != nil {
				return err
			}
			if p, scan := tx.priorOf(m); p != PriorRedelivery || scan != "r4/0001" {
				t.Errorf("after %d lost attempts: prior %v scan %q, want %v %q", n, p, scan, PriorRedelivery, "r4/0001")
			}
			if !tx.repeatsLostAttempt(m.ID) {
				t.Errorf("after %d lost attempts: not marked as a repeat", n)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// mendx19 item 1's sibling: a restored backup marks each of its messages
// as one the replaced database may have delivered, without wiping the
// mark a redelivered message already has: its repeat still searches by
// header under its request's scan name.
func TestRestoreKeepsARedeliveryMark(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "queue.db")
	s, err := Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "again@example.net")
	m.State, m.Arrived, m.NextAttempt = Ready, time.Now(), time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		return tx.MarkRedelivery(m.ID, "r4/0001")
	}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Restore(backup, live); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(live, Options{UnsafeNoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.RestoredFrom() == "" {
		t.Fatal("not seen as restored")
	}
	s.View(func(tx *Tx) error {
		if p, scan := tx.priorOf(m); p != PriorRedelivery || scan != "r4/0001" {
			t.Errorf("restored redelivery: prior %v scan %q, want %v %q", p, scan, PriorRedelivery, "r4/0001")
		}
		return nil
	})
}
