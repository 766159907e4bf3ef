package shadow

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

type fakeStore struct {
	mu        sync.Mutex
	primaries map[string]string
	discarded map[string][]string
	takeovers []string
}

func (f *fakeStore) ShadowPrimaries() (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.primaries {
		out[k] = v
	}
	return out, nil
}

func (f *fakeStore) ApplyDiscards(p string, ids []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.discarded[p] = append(f.discarded[p], ids...)
	return len(ids), nil
}

func (f *fakeStore) Takeover(p, reason string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.takeovers = append(f.takeovers, p+": "+reason)
	delete(f.primaries, p)
	return 1, nil
}

type fakeHB struct {
	calls int
	db    string
	err   error
	ids   []string
}

func (h *fakeHB) Heartbeat(ctx context.Context, p, addr string) (string, []string, error) {
	h.calls++
	return h.db, h.ids, h.err
}

func setup() (*Manager, *fakeStore, *fakeHB, *clock.Fake) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{primaries: map[string]string{"hub-b": "127.0.0.2:25"}, discarded: map[string][]string{}}
	hb := &fakeHB{db: "db1"}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: hb})
	return m, st, hb, clk
}

// Every (state, event) pair of one primary.
func TestPrimaryStates(t *testing.T) {
	ctx := context.Background()

	t.Run("healthy, no timeout: no heartbeat", func(t *testing.T) {
		m, _, hb, clk := setup()
		m.Step(ctx) // first seen
		clk.Advance(299 * time.Second)
		m.Step(ctx)
		if hb.calls != 0 {
			t.Fatalf("%d heartbeats before the timeout", hb.calls)
		}
	})
	t.Run("healthy, timeout: heartbeat ok, discards applied, timer reset", func(t *testing.T) {
		m, st, hb, clk := setup()
		hb.ids = []string{"x1"}
		m.Step(ctx)
		clk.Advance(300 * time.Second)
		m.Step(ctx)
		clk.Advance(299 * time.Second)
		m.Step(ctx)
		if hb.calls != 1 || strings.Join(st.discarded["hub-b"], ",") != "x1" || len(st.takeovers) != 0 {
			t.Fatalf("calls %d discarded %v takeovers %v", hb.calls, st.discarded, st.takeovers)
		}
	})
	t.Run("contact resets the timer (SR-5)", func(t *testing.T) {
		m, _, hb, clk := setup()
		m.Step(ctx)
		clk.Advance(200 * time.Second)
		m.Contact("hub-b", "db1", nil)
		clk.Advance(200 * time.Second)
		m.Step(ctx)
		if hb.calls != 0 {
			t.Fatal("heartbeat although a session happened 200 s ago")
		}
	})
	t.Run("failing: takeover after timeout × retries (SR-6)", func(t *testing.T) {
		m, st, hb, clk := setup()
		hb.err = errors.New("connection refused")
		m.Step(ctx)
		var at time.Duration
		for i := 1; i <= 20 && len(st.takeovers) == 0; i++ {
			clk.Advance(60 * time.Second)
			m.Step(ctx)
			at = time.Duration(i) * 60 * time.Second
		}
		if len(st.takeovers) != 1 || hb.calls != 3 || at != 900*time.Second || !strings.Contains(st.takeovers[0], "3 heartbeats failed") {
			t.Fatalf("takeover at %v after %d heartbeats: %v", at, hb.calls, st.takeovers)
		}
	})
	t.Run("failing then ok: failures reset", func(t *testing.T) {
		m, st, hb, clk := setup()
		m.Step(ctx)
		hb.err = errors.New("timeout")
		clk.Advance(300 * time.Second)
		m.Step(ctx)
		clk.Advance(300 * time.Second)
		m.Step(ctx)
		hb.err = nil
		clk.Advance(300 * time.Second)
		m.Step(ctx)
		hb.err = errors.New("timeout")
		clk.Advance(300 * time.Second)
		m.Step(ctx)
		clk.Advance(300 * time.Second)
		m.Step(ctx)
		if len(st.takeovers) != 0 {
			t.Fatalf("takeover after non-consecutive failures: %v", st.takeovers)
		}
	})
	t.Run("new database id: takeover at once (SR-7)", func(t *testing.T) {
		m, st, _, _ := setup()
		m.Contact("hub-b", "db1", nil)
		m.Contact("hub-b", "db1", nil)
		if len(st.takeovers) != 0 {
			t.Fatal("takeover without a change")
		}
		m.Contact("hub-b", "db2", nil)
		if len(st.takeovers) != 1 || !strings.Contains(st.takeovers[0], "new transport database") {
			t.Fatalf("takeovers %v", st.takeovers)
		}
	})
	t.Run("no copies left: state dropped, no heartbeat", func(t *testing.T) {
		m, st, hb, clk := setup()
		m.Step(ctx)
		st.mu.Lock()
		delete(st.primaries, "hub-b")
		st.mu.Unlock()
		clk.Advance(time.Hour)
		m.Step(ctx)
		if hb.calls != 0 || len(m.ps) != 0 {
			t.Fatalf("calls %d state %v", hb.calls, m.ps)
		}
	})
	t.Run("shutdown during a heartbeat is no failure", func(t *testing.T) {
		m, st, hb, clk := setup()
		hb.err = context.Canceled
		m.Step(ctx)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		for i := 0; i < 5; i++ {
			clk.Advance(300 * time.Second)
			m.Step(cctx)
		}
		if len(st.takeovers) != 0 {
			t.Fatal("takeover caused by our own shutdown")
		}
	})
}
