package shadow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// restoredStore is a heldStore whose copies a db restore of this server
// brought back (RestoredLister).
type restoredStore struct {
	*heldStore
	restored bool
	asked    atomic.Int32 // RestoredWaiting calls
}

func (r *restoredStore) RestoredWaiting(string) (bool, func()) {
	r.asked.Add(1)
	return r.restored, nil
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// rt43 observation 2: the WARN for copies dropped by a reconciliation
// says why no discard came for them. After a db restore of this server
// the notifications did not go missing: this server applied them before
// the restore brought the copies back.
func TestReconcileWarnSaysWhyNoDiscardCame(t *testing.T) {
	for _, restored := range []bool{false, true} {
		clk := clock.NewFake(t0)
		fs := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: t0, DatabaseID: "db1"}},
			copies: map[string]bool{"hub-b": true}, discarded: map[string][]string{}}
		st := &restoredStore{heldStore: &heldStore{fakeStore: fs, held: []string{"id-a", "id-b"}}, restored: restored}
		hb := &reconcilingHB{fakeHB: &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}}
		var buf lockedBuf
		m := New(Config{Timeout: 24 * time.Hour, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb,
			Log: slog.New(slog.NewTextHandler(&buf, nil))})
		m.Step(context.Background())
		m.Wait()
		log := buf.String()
		if !strings.Contains(log, "dropped shadow copies the primary is done with") {
			t.Fatalf("restored %v: no WARN for the dropped copies:\n%s", restored, log)
		}
		if restored && (strings.Contains(log, "went missing") || !strings.Contains(log, "db restore")) {
			t.Errorf("after a restore the WARN does not say the restore brought the copies back:\n%s", log)
		}
		if !restored && !strings.Contains(log, "went missing") {
			t.Errorf("without a restore the WARN does not say the notifications went missing:\n%s", log)
		}
	}
}

// rt18b F2: a copy a db restore brought back whose primary answered
// "still mine" at the first question is asked about again at each
// heartbeat interval, not only after reconcileEvery: its primary may be
// done with it a minute later (it made the copy again elsewhere, and
// delivered), and a failure of the primary within reconcileEvery would
// otherwise take the copy over and deliver it a second time. Once no
// restored copy waits, the interval is reconcileEvery again.
func TestRestoredCopyAskedAgainUntilSettled(t *testing.T) {
	clk := clock.NewFake(t0)
	fs := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: t0, DatabaseID: "db1"}},
		copies: map[string]bool{"hub-b": true}, discarded: map[string][]string{}}
	st := &restoredStore{heldStore: &heldStore{fakeStore: fs, held: []string{"id-a"}}, restored: true}
	hb := &reconcilingHB{fakeHB: &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, keep: map[string]bool{"id-a": true}}
	m := New(Config{Timeout: 5 * time.Second, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb})
	step := func(d time.Duration) {
		clk.Advance(d)
		m.Step(context.Background())
		m.Wait()
	}
	step(0)
	if q := hb.questions(); len(q) != 1 {
		t.Fatalf("first step asked %d questions", len(q))
	}
	step(5 * time.Second)
	if q := hb.questions(); len(q) != 2 {
		t.Fatalf("a restored copy the primary still holds was not asked about again after a heartbeat interval: %d questions", len(q))
	}
	st.restored = false // settled, or old enough for the age rule
	step(5 * time.Second)
	step(5 * time.Second)
	if q := hb.questions(); len(q) != 2 {
		t.Fatalf("asked again %d times within %v with no restored copy waiting", len(q)-2, reconcileEvery)
	}
}

// rt19 reread (mendq19 4): the step, about once a second with the
// manager's lock held, asks the store whether a restored copy waits for
// a primary at most once per heartbeat interval — not at every step
// once the last question is an interval old.
func TestRestoredWaitingAskedOncePerInterval(t *testing.T) {
	clk := clock.NewFake(t0)
	fs := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: t0, DatabaseID: "db1"}},
		copies: map[string]bool{"hub-b": true}, discarded: map[string][]string{}}
	st := &restoredStore{heldStore: &heldStore{fakeStore: fs, held: []string{"id-a"}}}
	hb := &reconcilingHB{fakeHB: &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, keep: map[string]bool{"id-a": true}}
	m := New(Config{Timeout: 5 * time.Second, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb})
	m.Step(context.Background())
	m.Wait()
	before := st.asked.Load()
	for i := 0; i < 60; i++ { // a minute of steps, one a second
		clk.Advance(time.Second)
		fs.mu.Lock()
		fs.ps["hub-b"].LastContact = clk.Now()
		fs.mu.Unlock()
		m.Step(context.Background())
		m.Wait()
	}
	if n := st.asked.Load() - before; n > 60/5+1 {
		t.Fatalf("asked %d times in a minute of steps with a heartbeat interval of 5s; want at most %d", n, 60/5+1)
	}
}
