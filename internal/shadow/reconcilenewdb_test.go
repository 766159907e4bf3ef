package shadow

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"umbra/internal/clock"
)

// newDBReconcilingHB answers a reconciliation as a primary back with a
// new, empty transport database: its XSHADOW presents db2, and it holds
// no unfinished record of any id asked, so it answers each "done".
type newDBReconcilingHB struct{ *fakeHB }

func (r *newDBReconcilingHB) Reconcile(_ context.Context, _, _ string, ids []string, save Save) error {
	if err := save("db2", 0, nil, false); err != nil {
		return err
	}
	return save("db2", 0, ids, false)
}

// SR-7, SR-15 (CI run 111, TestShadowCopyRemadeOnRestoredEdge): a
// reconciliation opened to a primary that came back with a new database
// takes the copies over at its XSHADOW (the first save); the same
// session's answer to XQUERYHELD comes from that new database, which
// holds no record of messages accepted under the old one and so answers
// "done" for every id asked. Applied as discards, it dropped the copies
// just taken over — the only copy of each message left: acknowledged
// mail lost. The answer of a database the copies were not made under
// settles none of them.
func TestReconcileAnswerOfNewDatabaseDropsNoCopy(t *testing.T) {
	clk := clock.NewFake(t0)
	fs := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: t0, DatabaseID: "db1"}},
		copies: map[string]bool{"hub-b": true}, discarded: map[string][]string{}}
	st := &restoredStore{heldStore: &heldStore{fakeStore: fs, held: []string{"id-a", "id-b"}}, restored: true}
	hb := &newDBReconcilingHB{fakeHB: &fakeHB{db: "db2", calls: map[string]int{}, hang: map[string]bool{}}}
	m := New(Config{Timeout: 24 * time.Hour, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb,
		Log: slog.New(slog.DiscardHandler)})
	m.Step(context.Background())
	m.Wait()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.takeovers) == 0 {
		t.Fatal("the new database id took nothing over")
	}
	if d := fs.discarded["hub-b"]; len(d) != 0 {
		t.Errorf("the new database's answer was applied as discards of the copies taken over from the old one: %q", d)
	}
}
