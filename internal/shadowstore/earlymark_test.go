package shadowstore_test

import (
	"context"
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

// SR-17, earlymark40: the shadow recorder hands the queue the mark a
// batch of discards was listed under (Save's mark), and the queue keeps
// an early discard under it. A discard listed under mark 7 of a copy not
// here yet, saved after another session's copy raised the stored mark
// to 9, does not settle a copy of the same org id committed at the
// primary after it (mark 8): that copy is kept — through a contact (the
// last batch) and a presented batch alike.
func TestRecorderKeepsEarlyDiscardUnderItsBatchMark(t *testing.T) {
	const body = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
	for _, contact := range []bool{true, false} {
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		q := queue.NewManager(s, deadRelay{}, queue.ManagerConfig{Clock: clk})
		rec := shadow.NewRecorder(shadowstore.Store{M: &q}, nil, slog.New(slog.DiscardHandler))
		copyOf := func(org string) *queue.Message {
			return &queue.Message{ID: s.NewID(clk.Now()), From: "a@example.org", Arrived: clk.Now(), OrgID: org, Rcpts: []queue.Recipient{{Addr: "b@sb.test"}}}
		}
		push := func(m *queue.Message, mark uint64) bool {
			res, err := q.SubmitShadowCopiesMarked(context.Background(), []queue.ShadowCopy{{M: m, Body: queue.MemBody([]byte(body))}}, "hub-b", "127.0.0.2:25", "db1", mark)
			if err != nil || res[0].Err != nil {
				t.Fatalf("push: %+v, %v", res, err)
			}
			return res[0].Stored
		}
		rec.MarkSeen("hub-b", "db1", 7, 0, "") // the discard reply's mark (OnMark)
		if !push(copyOf(orgid.New()), 9) {     // another session's copy, committed after it
			t.Fatal("the other session's copy was not kept")
		}
		org := orgid.New()
		save := rec.Presented
		if contact {
			save = rec.Contact
		}
		if err := save("hub-b", "db1", 7, []string{org}); err != nil {
			t.Fatal(err)
		}
		if !push(copyOf(org), 8) {
			t.Fatalf("contact %v: a copy committed after the discard (mark 8 > 7) was settled by it and not kept", contact)
		}
		q.Wait()
		s.Close()
	}
}
