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

// SR-7, OPS (shadowout48 F2 of an outside check): "took over shadow
// copies" at WARN is what an operator alerts on, so it is logged only
// when something was taken over. A primary that came back with a wiped
// database while this server held nothing of it logged it with
// messages=0 on every restart; now an INFO says the primary presented a
// new database and that nothing was held for it. Whatever was taken over
// is counted, the copies in delivery marked for the takeover too.
func TestSR7NothingTakenOverIsNoTakeoverWarn(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	c := receiptCopy(s, "x@remote.example")
	if stored, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	if res, err := q.ShadowContact("hub-a", "dbA", []string{c.OrgID}); err != nil || res.Discarded != 1 {
		t.Fatalf("discard: %+v %v", res, err)
	}
	if got, _ := q.Message(c.ID); got != nil {
		t.Fatalf("copy kept after its discard: %+v", got)
	}
	clk.Advance(time.Minute)
	c2 := receiptCopy(s, "y@remote.example")
	if stored, err := q.SubmitShadowCopy(ctx, c2, []byte(body), "hub-a", "127.0.0.1:25", "dbA2"); err != nil || !stored {
		t.Fatalf("copy on receipt under the new database: %v, %v", stored, err)
	}
	if strings.Contains(logs.String(), "took over shadow copies") {
		t.Errorf("a new database of a primary nothing was held for logged a takeover:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `level=INFO msg="primary presented a new transport database; nothing was taken over: no shadow copy was held for it"`) ||
		!strings.Contains(logs.String(), "was=dbA") {
		t.Errorf("no INFO says the primary presented a new database:\n%s", logs.String())
	}
}
