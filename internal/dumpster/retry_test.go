package dumpster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// An operator who retries a request after a timeout or a lost
// connection gives the same request id and the same parameters, among
// them the same duration ("--since 1h"), minutes later: the retry is the
// same request. A duration is measured back from the request's start, so
// it names the same window at every retry; nothing is resubmitted twice,
// and the answer is the first run's. The same id with another database or
// another window is refused, and the error names both.
func TestRetryWithDurationIsTheSameRequest(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	for i := 1; i <= 3; i++ {
		r.send(i, 300)
		r.clk.Advance(time.Minute)
	}
	ctx := context.Background()
	req, out, err := r.d.RedeliverAgo(ctx, "op-1", "DB1", time.Hour)
	if err != nil || out != Carried || req.Resubmitted != 3 || req.Phase != queue.Done {
		t.Fatalf("first: %+v %v %v", req, out, err)
	}
	if want := req.Started.Add(-time.Hour); !req.Since.Equal(want) {
		t.Fatalf("since %v, want an hour before the start %v", req.Since, want)
	}
	r.waitEmpty()
	r.clk.Advance(7 * time.Minute) // the operator's retry
	again, out, err := r.d.RedeliverAgo(ctx, "op-1", "DB1", time.Hour)
	if err != nil || out != Repeated || again.Resubmitted != 3 || !again.Since.Equal(req.Since) {
		t.Fatalf("retry: %+v %v %v; want the first run's result", again, out, err)
	}
	// The same window named by its time is the same request too.
	if _, out, err := r.d.Redeliver(ctx, "op-1", "DB1", req.Since); err != nil || out != Repeated {
		t.Fatalf("retry by time: %v %v", out, err)
	}
	r.waitEmpty()
	for i := 1; i <= 3; i++ {
		if got := r.copies(fmt.Sprintf("<%d@test>|bob@example.test", i)); got != 2 {
			t.Errorf("message %d delivered %d times, want 2 (once, and once redelivered)", i, got)
		}
	}
	for _, c := range []struct {
		name string
		call func() error
		want []string
	}{
		{"another duration", func() error { _, _, err := r.d.RedeliverAgo(ctx, "op-1", "DB1", 2*time.Hour); return err },
			[]string{"op-1", "DB1", req.Since.Format(time.RFC3339), "1h0m0s before", "2h0m0s before"}},
		{"another database", func() error { _, _, err := r.d.RedeliverAgo(ctx, "op-1", "DB2", time.Hour); return err },
			[]string{"op-1", "database DB1", "database DB2"}},
		{"another time", func() error { _, _, err := r.d.Redeliver(ctx, "op-1", "DB1", t0); return err },
			[]string{"op-1", req.Since.Format(time.RFC3339), t0.Format(time.RFC3339)}},
	} {
		err := c.call()
		if !errors.Is(err, ErrRequestConflict) {
			t.Errorf("%s: %v, want ErrRequestConflict", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
	}
	r.waitEmpty()
	if got := r.copies("<1@test>|bob@example.test"); got != 2 {
		t.Errorf("a refused request delivered again (%d copies)", got)
	}
}

// A request whose first call was cut short (the connection dropped and
// its context ended mid-way) is finished by its retry, which says so; what
// the first call resubmitted is not resubmitted again.
func TestRetryFinishesAnInterruptedRequest(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	for i := 1; i <= 3; i++ {
		r.send(i, 300)
		r.clk.Advance(time.Minute)
	}
	// The first call stored the request and got as far as the clearing
	// phase before its context ended.
	err := r.store.Update(context.Background(), func(tx *queue.Tx) error {
		now := r.clk.Now()
		return tx.PutRequest(&queue.Request{ID: "op-2", Database: "DB1", Since: now.Add(-time.Hour), Started: now, FirstID: tx.NewID(now)})
	})
	if err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(2 * time.Minute)
	req, out, err := r.d.RedeliverAgo(context.Background(), "op-2", "DB1", time.Hour)
	if err != nil || out != Resumed || req.Phase != queue.Done || req.Resubmitted != 3 {
		t.Fatalf("retry of an interrupted request: %+v %v %v", req, out, err)
	}
	r.waitEmpty()
	if _, out, err := r.d.RedeliverAgo(context.Background(), "op-2", "DB1", time.Hour); err != nil || out != Repeated {
		t.Fatalf("after it finished: %v %v", out, err)
	}
	r.waitEmpty()
	for i := 1; i <= 3; i++ {
		if got := r.copies(fmt.Sprintf("<%d@test>|bob@example.test", i)); got != 2 {
			t.Errorf("message %d delivered %d times, want 2", i, got)
		}
	}
}
