package queue

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, OPS (sites47 F4 of an outside check): every takeover logs the
// WARN summary "took over shadow copies" with the primary, the count and
// the reason, whichever path took the copies over. A takeover after a
// wiped disk (a heartbeat's session presenting a new database id) logged
// it; one made by a restored primary's question (XQUERYTAKENDONE naming
// the database it was restored from: TakenOverFor) and one made by a
// push of a primary presenting a new database id (a copy it hands) left
// only the per-message INFO events, unseen by an operator watching WARN.
func TestSR7EveryTakeoverPathLogsTheWarnSummary(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	sS := openTest(t)
	qS := NewManager(sS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	summary := func(primary string, n int) string {
		t.Helper()
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `level=WARN msg="took over shadow copies"`) && strings.Contains(l, "primary="+primary+" ") &&
				strings.Contains(l, "reason=") {
				if !strings.Contains(l, " messages="+string(rune('0'+n))+" ") {
					t.Errorf("the summary counts otherwise than %d: %s", n, l)
				}
				return l
			}
		}
		return ""
	}

	// A restored primary's question.
	c := receiptCopy(sS, "x@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	if got := qS.TakenOverFor("hub-a", "dbA2", "dbA", 10); len(got) != 1 {
		t.Fatalf("listed %+v, want the copy taken over", got)
	}
	if l := summary("hub-a", 1); l == "" || !strings.Contains(l, "was=dbA") {
		t.Errorf("the takeover of a restored primary's copies logged no WARN summary naming the database it replaced:\n%s", logs.String())
	}

	// A push presenting a new database id.
	c2 := receiptCopy(sS, "y@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c2, []byte(body), "hub-b", "127.0.0.2:25", "dbB"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	c3 := receiptCopy(sS, "z@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c3, []byte(body), "hub-b", "127.0.0.2:25", "dbB2"); err != nil || !stored {
		t.Fatalf("copy on receipt under the new database: %v, %v", stored, err)
	}
	if got, _ := qS.Message(c2.ID); got == nil || got.State == Shadow {
		t.Fatalf("hub-b's copy of its old database not taken over: %+v", got)
	}
	if l := summary("hub-b", 1); l == "" || !strings.Contains(l, "was=dbB") {
		t.Errorf("the takeover by a push under a new database id logged no WARN summary:\n%s", logs.String())
	}

	// A primary whose database was rolled back (a mark below the one
	// seen): the same summary, and its messages' takeover events say
	// the rollback, not a new database.
	c4 := receiptCopy(sS, "w@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c4, []byte(body), "hub-c", "127.0.0.3:25", "dbC"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	if _, _, err := qS.ShadowMarkSeen("hub-c", "dbC", 8, qS.ShadowMarkFloor("hub-c")); err != nil {
		t.Fatal(err)
	}
	if rolled, n, err := qS.ShadowMarkSeen("hub-c", "dbC", 3, qS.ShadowMarkFloor("hub-c")); err != nil || !rolled || n != 1 {
		t.Fatalf("rollback: %v %d %v", rolled, n, err)
	}
	if l := summary("hub-c", 1); l == "" || !strings.Contains(l, "rolled back") {
		t.Errorf("the takeover of a rolled-back primary's copies logged no WARN summary saying so:\n%s", logs.String())
	}
}
