package shadow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// restoredStore is a heldStore whose copies a db restore of this server
// brought back (RestoredLister).
type restoredStore struct {
	*heldStore
	restored bool
}

func (r *restoredStore) RestoredWaiting(string) bool { return r.restored }

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
