package shadow

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, OPS (holders49 item 4): the error of a primary's last failed
// watch session was kept by the primary's name alone, so a primary that
// came back with a new transport database (its copies of the old one
// taken over, new ones held since, no session of it let in here yet)
// showed the old database's watch error: shadow list said the new
// database unreachable for the failure of a session to the old one. It
// is kept with the database it was met under.
func TestWatchFailureIsTheDatabases(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now(), DatabaseID: "db1"}}}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}})
	m.watchFailed("hub-b", errorString("reply to XQUERYDISCARD: EOF"))
	if ps := m.Status(); len(ps) != 1 || !strings.Contains(ps[0].Unreachable, "watch session failed") {
		t.Fatalf("the watch session's failure is not shown for the database it failed with: %+v", ps)
	}
	// The primary's new database is recorded (a copy it pushed, a digest
	// its refused session presented): no session of it failed.
	st.mu.Lock()
	st.ps["hub-b"].DatabaseID = "db2"
	st.mu.Unlock()
	if ps := m.Status(); len(ps) != 1 || ps[0].Unreachable != "" || !ps[0].TakeoverAt.IsZero() {
		t.Fatalf("the new database shows the old one's watch failure: %+v", ps)
	}
}

// The same record is one per primary whatever the spelling a session
// used (nameKey, as the store keeps one folded spelling): a failure
// recorded under one spelling is ended by a session let in under
// another, and shown for the stored one.
func TestWatchFailureByFoldedName(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now(), DatabaseID: "db1"}}}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}})
	m.rec.watchFailing("HUB-B", errorString("reply to XQUERYDISCARD: EOF"))
	if ps := m.Status(); len(ps) != 1 || !strings.Contains(ps[0].Unreachable, "watch session failed") {
		t.Fatalf("a failure under another spelling is not shown: %+v", ps)
	}
	m.rec.admitted("hub-b", time.Time{})
	if ps := m.Status(); len(ps) != 1 || ps[0].Unreachable != "" {
		t.Fatalf("a session let in did not end the failure recorded under another spelling: %+v", ps)
	}
}
