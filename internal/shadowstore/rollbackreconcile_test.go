package shadowstore_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
)

// rolledBackPrimary is a primary whose transport database was put back
// from an older file of the same database (same id): the XSHADOW reply
// of the reconciliation presents a mark below the one this server saw,
// and it holds no record of the messages it acknowledged after the
// file was copied, so it answers "done" for every id asked.
type rolledBackPrimary struct {
	rec   *shadow.Recorder
	asked []string
}

func (h *rolledBackPrimary) Heartbeat(context.Context, string, string, shadow.Save) error {
	return errors.New("not expected")
}

func (h *rolledBackPrimary) Reconcile(_ context.Context, primary, _ string, ids []string, save shadow.Save) error {
	h.asked = ids
	h.rec.MarkSeen(primary, "db1", 1, 5, "db1") // the XSHADOW reply's mark: 1, where 5 was seen
	if err := save("db1", 0, nil, false); err != nil {
		return err
	}
	return save("db1", 0, ids, false)
}

// SR-7, SR-15 (rollback marks): a reconciliation whose XSHADOW reply
// shows the primary rolled back takes its copies over, as a new
// database does; the same session's answer to XQUERYHELD comes from the
// rolled-back file, which holds no record of the copies made after it
// and answers "done" for each. Applied as discards — the database id is
// the same, so the rule for a new database did not stop them — it
// dropped the copies just taken over, the only copy of each message.
func TestReconcileAnswerOfRolledBackPrimaryDropsNoCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := queue.NewManager(s, deadRelay{}, queue.ManagerConfig{Clock: clk})
	defer q.Wait()
	const body = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
	cp := &queue.Message{ID: s.NewID(clk.Now()), From: "a@example.org", Arrived: clk.Now(), OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "b@sb.test"}}}
	if stored, err := q.SubmitShadowCopy(context.Background(), cp, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil || !stored {
		t.Fatalf("copy: %v %v", stored, err)
	}
	if _, _, err := q.ShadowMarkSeen("hub-b", "db1", 5, queue.MarkFloor{}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour) // old enough to be asked about (HeldQueryAge)

	st := shadowstore.Store{M: &q}
	rec := shadow.NewRecorder(st, nil, slog.New(slog.DiscardHandler))
	hb := &rolledBackPrimary{rec: rec}
	sm := shadow.New(shadow.Config{Timeout: 24 * time.Hour, Retries: 3, CommandTimeout: time.Minute,
		Clock: clk, Store: st, Heartbeater: hb, Recorder: rec, Log: slog.New(slog.DiscardHandler)})
	sm.Step(context.Background())
	sm.Wait()
	if len(hb.asked) != 1 || hb.asked[0] != cp.OrgID {
		t.Fatalf("the copy was not asked about: %q", hb.asked)
	}
	got, err := q.Message(cp.ID)
	if err != nil || got == nil {
		t.Fatalf("the rolled-back primary's answer dropped the copy taken over from it, the only copy of the message: %v", err)
	}
	if r := got.Rcpts[0]; r.Status != queue.Pending {
		t.Fatalf("the copy was not taken over, or was settled: %+v", r)
	}
}
