package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/queue/queuetest"
	"umbra/internal/tracking"
)

// rt51 F5: a message whose results could not be committed (a full disk)
// waits in delivery, not attempted again; message show says so, with
// the failed commits and the last error.
func TestMessageShowSaysResultsPending(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	var restore atomic.Pointer[func()]
	del := queue.DelivererFunc(func(_ context.Context, m *queue.Message, _ []byte, rcpts []int) []queue.Result {
		r := queuetest.BreakWrites(t, filepath.Join(dir, "queue.db")) // the disk fills while the next hop takes it
		restore.Store(&r)
		var out []queue.Result
		for _, i := range rcpts {
			out = append(out, queue.Result{Rcpt: i, Outcome: queue.RelayedOK, Reply: "250 ok", Queue: "mx:example.test"})
		}
		return out
	})
	q := queue.NewManager(st, del, queue.ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	defer func() {
		if r := restore.Load(); r != nil {
			(*r)()
		}
		cancel()
		q.Wait()
	}()
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	m := &queue.Message{ID: st.NewID(time.Now()), From: "a@example.org", Connector: "test",
		Rcpts: []queue.Recipient{{Addr: "x@example.test"}}}
	if err := q.Submit(ctx, m, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for q.PendingResults() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the results' commit never failed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	v, err := NewClient(sock).Message(m.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v.ResultsPending, "results not committed since") || !strings.Contains(v.ResultsPending, "not attempted again") {
		t.Fatalf("message show of a message whose results wait for their commit: results_pending %q", v.ResultsPending)
	}
	// The attempt made and its outcome, marked as waiting for their
	// commit: not "attempts: 0" and "pending" with the reply before it
	// (rt54 L3).
	if v.Attempts != 1 {
		t.Errorf("attempts %d, want 1 (the attempt whose results wait)", v.Attempts)
	}
	if len(v.Recipients) != 1 || v.Recipients[0].Status != "relayed (not committed)" || v.Recipients[0].LastReply != "250 ok" ||
		v.Recipients[0].Queue != "mx:example.test" {
		t.Errorf("recipients %+v; want x@example.test relayed (not committed) by mx:example.test, 250 ok", v.Recipients)
	}
}

// rt44 shadow4 F3: while a message's results wait for their commit,
// message list's LAST ERROR and message show's last error gave the
// deferral of the attempt before ("451 4.3.0 try later") beside a
// recipient shown "relayed (not committed) … 250": the last error is
// what the pending results make it, saying they wait for their commit.
func TestMessageLastErrorWhileResultsPending(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	var restore atomic.Pointer[func()]
	var tries atomic.Int32
	del := queue.DelivererFunc(func(_ context.Context, m *queue.Message, _ []byte, rcpts []int) []queue.Result {
		outcome, reply := queue.Deferred, "451 4.3.0 try later"
		if tries.Add(1) > 1 {
			r := queuetest.BreakWrites(t, filepath.Join(dir, "queue.db")) // the disk fills while the next hop takes it
			restore.Store(&r)
			outcome, reply = queue.RelayedOK, "250 2.0.0 queued"
		}
		var out []queue.Result
		for _, i := range rcpts {
			out = append(out, queue.Result{Rcpt: i, Outcome: outcome, Reply: reply, Queue: "mx:example.test", NextHop: "mx.example.test[192.0.2.1]"})
		}
		return out
	})
	q := queue.NewManager(st, del, queue.ManagerConfig{RetrySchedule: []time.Duration{100 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	defer func() {
		if r := restore.Load(); r != nil {
			(*r)()
		}
		cancel()
		q.Wait()
	}()
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	m := &queue.Message{ID: st.NewID(time.Now()), From: "a@example.org", Connector: "test",
		Rcpts: []queue.Recipient{{Addr: "x@example.test"}}}
	if err := q.Submit(ctx, m, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for q.PendingResults() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the results' commit never failed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := NewClient(sock)
	v, err := c.Message(m.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, got string) {
		t.Helper()
		if strings.Contains(got, "try later") || !strings.Contains(got, "not committed") {
			t.Errorf("%s of a message relayed whose results wait for their commit: %q; want it to say the results are not committed, not the deferral before",
				what, got)
		}
	}
	check("message show's last error", v.LastError)
	list, err := c.Messages(queue.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("message list: %d messages, want 1", len(list))
	}
	check("message list's LAST ERROR", list[0].LastError)
}
