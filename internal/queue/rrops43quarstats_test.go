package queue

import (
	"context"
	"errors"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-43 item 7 (reread): the quarantine's totals kept by commits
// (quarantineCounted over one scan at a bbolt transaction id) under
// concurrency: writers commit in shared group commits — submissions,
// releases, deletions, a writer whose change is rolled back (its batch
// made again writer by writer) and one that panics after its change —
// while scrapers read QuarantineStats and the clock passes the recount's
// bound, so that scans run between commits and their hooks. Afterwards
// the totals kept (not a scan made for the comparison) equal a fresh
// scan's: no commit counted twice, none missed, none rolled back counted.
func TestOPS43QuarantineStatsKeptUnderConcurrentCommitsAndScrapes(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 later" })
	go func() { // its calls drained: a full channel held every attempt, and the stop waited for them (CI run 149's hang)
		for range d.calls {
		}
	}()
	q := NewManager(s, d, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer stopWithFakeClock(cancel, q, clk)
	q.Start(ctx)
	scan := func() (n int, size int64) {
		s.View(func(tx *Tx) error { n, size = quarantineTotals(tx); return nil })
		return n, size
	}
	errRollback := errors.New("a writer's refusal after its change")

	var mu sync.Mutex
	var held []ID
	put := func(id ID) { mu.Lock(); held = append(held, id); mu.Unlock() }
	take := func(rng *rand.Rand) (ID, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(held) == 0 {
			return 0, false
		}
		i := rng.Intn(len(held))
		id := held[i]
		held = append(held[:i], held[i+1:]...)
		return id, true
	}
	peek := func(rng *rand.Rand) (ID, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(held) == 0 {
			return 0, false
		}
		return held[rng.Intn(len(held))], true
	}

	// phase runs writers (ops commits each) and scrapers at once; the
	// scrapers pass the recount's bound when advance is set.
	phase := func(seed int64, ops int, advance bool) {
		var writers, scrapers sync.WaitGroup
		stop := make(chan struct{})
		for w := range 4 {
			writers.Add(1)
			go func() {
				defer writers.Done()
				rng := rand.New(rand.NewSource(seed + int64(w)))
				for range ops {
					switch rng.Intn(6) {
					case 0, 1:
						m := msg(s, "a@example.org", "x@example.net")
						m.Quarantine = "spam score 14.2"
						if err := q.Submit(ctx, m, []byte(body+strings.Repeat("x", rng.Intn(2048)))); err != nil {
							t.Errorf("submit: %v", err)
							return
						}
						put(m.ID)
					case 2:
						if id, ok := take(rng); ok {
							if err := q.ReleaseQuarantined(ctx, id); err != nil {
								t.Errorf("release: %v", err)
							}
						}
					case 3:
						if id, ok := take(rng); ok {
							if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(id) }); err != nil {
								t.Errorf("delete: %v", err)
							}
						}
					case 4: // a change rolled back: the record stays in
						if id, ok := peek(rng); ok {
							err := s.Update(ctx, func(tx *Tx) error {
								if err := tx.Delete(id); err != nil {
									return err
								}
								return Refused(errRollback)
							})
							if !errors.Is(err, errRollback) && !errors.Is(err, ErrNotFound) {
								t.Errorf("rolled back writer: %v", err)
							}
						}
					case 5: // a writer that panics after its change
						if id, ok := peek(rng); ok {
							func() {
								defer func() { recover() }()
								s.Update(ctx, func(tx *Tx) error {
									if err := tx.Delete(id); err != nil {
										return err
									}
									panic("a writer's panic after its change")
								})
							}()
						}
					}
				}
			}()
		}
		for range 2 {
			scrapers.Add(1)
			go func() {
				defer scrapers.Done()
				for i := 0; i < 20000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					q.QuarantineStats()
					if advance && i%7 == 0 {
						clk.Advance(quarCapRecount)
					}
				}
			}()
		}
		writers.Wait()
		close(stop)
		scrapers.Wait()
	}

	phase(1, 60, true)  // scans race the commits and their hooks
	q.QuarantineStats() // no commit runs: kept from here, or counted again now
	scansBefore := q.quarantineScans()
	phase(100, 60, false) // the totals kept by the hooks alone
	st := &q.qstats
	st.mu.Lock()
	valid, n, size := st.valid, st.n, st.bytes
	st.mu.Unlock()
	sn, ssize := scan()
	mu.Lock()
	want := len(held)
	mu.Unlock()
	if sn != want {
		t.Fatalf("a scan finds %d quarantined, the test holds %d", sn, want)
	}
	if got := q.quarantineScans(); !valid || got != scansBefore {
		t.Fatalf("the totals were not kept through the second phase (valid %v, scans %d then %d)", valid, scansBefore, got)
	}
	if n != sn || size != ssize {
		t.Errorf("the totals kept: %d messages %d bytes; a fresh scan: %d and %d", n, size, sn, ssize)
	}
	if gn, gsize := q.QuarantineStats(); gn != sn || gsize != ssize {
		t.Errorf("QuarantineStats %d messages %d bytes; a fresh scan: %d and %d", gn, gsize, sn, ssize)
	}
}

// OPS-43 item 7 (reread): bbolt runs a commit's hooks after its lock is
// given up, so a scan can read the commit before its hook runs. Held
// there (a hook registered before the quarantine's, waiting), the
// commit of a quarantined message is read by QuarantineStats' scan
// (the recount's bound passed); its hook then runs: the message is in
// the scan and is not counted again.
func TestOPS43QuarantineStatsCommitReadBeforeItsHookCountedOnce(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 later" })
	go func() { // its calls drained: a full channel held every attempt, and the stop waited for them (CI run 149's hang)
		for range d.calls {
		}
	}()
	q := NewManager(s, d, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer stopWithFakeClock(cancel, q, clk)
	q.Start(ctx)
	first := msg(s, "a@example.org", "x@example.net")
	first.Quarantine = "spam score 14.2"
	if err := q.Submit(ctx, first, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.QuarantineStats(); n != 1 {
		t.Fatalf("QuarantineStats %d, want 1", n)
	}

	m := msg(s, "a@example.org", "y@example.net")
	m.Quarantine = "spam score 15.0"
	m.State = Quarantined
	m.Size = 100
	committed, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx *Tx) error {
			tx.tx.OnCommit(func() { close(committed); <-release }) // runs before the quarantine's hook
			return tx.Put(m)
		})
	}()
	<-committed
	clk.Advance(quarCapRecount)
	n, size := q.QuarantineStats() // a scan that reads the commit, its hook not yet run
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("the scan after the commit found %d, want 2", n)
	}
	if gn, gsize := q.QuarantineStats(); gn != 2 || gsize != size {
		t.Errorf("after the commit's hook ran: %d messages %d bytes, want 2 and %d (counted once)", gn, gsize, size)
	}
}

// stopWithFakeClock cancels q's context and waits for q, moving clk on
// while it waits: an attempt that waits on a timer of the fake clock
// (a retry's pause, a commit's) would otherwise never end once the test
// stopped moving it, and the wait hung (once, in a full run of the
// package under load).
func stopWithFakeClock(cancel context.CancelFunc, q *Manager, clk *clock.Fake) {
	cancel()
	done := make(chan struct{})
	go func() { q.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
			clk.Advance(time.Minute)
		}
	}
}
