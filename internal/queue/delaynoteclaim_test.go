package queue

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// planGate is a deliverer whose Plan holds the first message it plans
// after armed until released: the messages claimed after it in the same
// claim wait, Active, for their start (dispatch is one after another).
type planGate struct {
	DelivererFunc
	armed   atomic.Bool
	once    sync.Once
	first   chan ID
	release chan struct{}
}

func (g *planGate) Plan(ctx context.Context, m *Message, rcpts []int) []Job {
	if g.armed.Load() {
		g.once.Do(func() {
			g.first <- m.ID
			<-g.release
		})
	}
	return nil
}

// Q-3, SR-6, SR-11 (shadow26 review F2): hub-a takes over two copies
// from hub-b; both are claimed in one claim, and the second waits,
// Active, while the first one starts. hub-b's delay note for the second
// comes then: it finds the record Active and no attempt in inDelivery,
// marks the record as stored only — and the attempt that then starts,
// with the message as claimed, writes it back unmarked and makes its own
// delay DSN past hub-a's delay_notification. Two delay DSNs.
func TestDelayNoteBetweenClaimAndStartReal(t *testing.T) {
	r := newDelayNoteRig(t)
	sS := r.sS
	var taken atomic.Bool
	g := &planGate{first: make(chan ID, 1), release: make(chan struct{})}
	g.DelivererFunc = func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return r.p.relay(t, ctx, m, rcpts, "hub-b")
		}
		return deferredNoRoute(rcpts)
	}
	r.startHubA(t, g)
	qS := r.qS
	ids := r.submitCopies(t, 2, "b@c.example")
	r.primaryDelayDSNs(t, 2)
	second := r.takeOverTwo(t, &taken, &g.armed, g.first, ids)
	r.p.fetchDelayed(t, qS) // hub-b's delay notes: the second copy is Active, its attempt not started
	if got, _ := qS.Message(second); !got.DelayNotified {
		t.Fatalf("the note did not mark the second copy")
	}
	r.clk.Advance(3 * time.Hour) // 5 h: past hub-a's own delay_notification
	close(g.release)
	r.waitAllReady(t, "hub-a's attempts to defer", ids...)
	for _, dm := range messages(t, sS) {
		if dm.OwnDSN() {
			t.Errorf("hub-a made delay DSN %s: hub-b told the sender already (its note came between the claim and the start)", dm.ID)
		}
	}
	if got, _ := qS.Message(second); !got.DelayNotified {
		t.Errorf("the second copy after its attempt: DelayNotified false (the note's mark overwritten)")
	}
}

// Q-3, SR-6, SR-11 (shadow26 review F2, the later window): a primary's
// delay note committed after the attempt's end read its mark
// (complete: a.noticed) and before the attempt leaves delivery without
// results — requeued (stopped before any job ran), poisoned (a panic, an
// unreadable body) — is kept: those writers put the message the attempt
// began with, which says DelayNotified false, as the commit of results
// (finish) already keeps a stored mark.
func TestLeavingDeliveryKeepsDelayNoteMark(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}, DelayNotification: time.Hour})
	for _, w := range []struct {
		name  string
		leave func(*Message)
	}{
		{"requeue", q.requeue},
		{"poison", func(m *Message) { q.poison(m, "panic: test") }},
		{"poisonUnreadable", func(m *Message) { q.poisonUnreadable(m, "body unreadable: test") }},
	} {
		t.Run(w.name, func(t *testing.T) {
			m := msg(s, "s@example.org", "b@c.example")
			m.Arrived, m.State = clk.Now(), Active
			if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Put(m) }); err != nil {
				t.Fatal(err)
			}
			began := *m // the attempt's message, read at its claim
			// The primary's note (delaynote.go) after the end read the mark.
			if err := s.Update(context.Background(), func(tx *Tx) error {
				st, err := tx.Get(m.ID)
				if err != nil {
					return err
				}
				st.DelayNotified = true
				return tx.Put(st)
			}); err != nil {
				t.Fatal(err)
			}
			w.leave(&began)
			got, err := q.Message(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.DelayNotified {
				t.Errorf("%s wrote the message the attempt began with over the primary's delay note: DelayNotified false (a second delay DSN follows)", w.name)
			}
		})
	}
}
