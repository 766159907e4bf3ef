package admin

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// rt48 F1: a poison message whose spooled body here is cut short while
// hub-a holds its shadow copy. remove refuses it without --force (the
// sound copy would go too); the dry run, by id and by filter, answered
// "would remove" (exit 0) — it now runs the removal's own decision and
// lists the refusal, with --force passes it; and the refusal is not
// filed as one "not applicable to a shadow copy": the message is this
// server's own.
func TestRemoveDryRunForeseesDamagedBodyRefusal(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	sw, err := st.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	sw.Write([]byte("Subject: x\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 20000)))
	b, err := sw.Finish()
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Poison, From: "a@example.org", LastError: "body unreadable: test",
		ShadowServer: "hub-a.example", ShadowID: "copy-1", NextAttempt: time.Now().Add(time.Hour),
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	p, _, _ := b.File()
	if err := os.Truncate(p, 1000); err != nil {
		t.Fatal(err)
	}
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
	c := NewClient(sock)
	id := m.ID.String()

	real := c.MessageAction(id, "remove", false)
	var ae *APIError
	if !errors.As(real, &ae) || !strings.Contains(ae.Msg, "hub-a.example") || !strings.Contains(ae.Msg, "--force") {
		t.Fatalf("remove by id: %v; want the refusal naming the holder and --force", real)
	}
	if strings.Contains(ae.Msg, queue.ErrShadowCopy.Error()) {
		t.Errorf("the refusal is labelled as one for a shadow copy: %s", ae.Msg)
	}
	if err := c.CheckMessageAction(id, "remove"); err == nil || err.Error() != real.Error() {
		t.Errorf("dry run by id: %v; the removal answers %v", err, real)
	}
	for _, all := range []bool{true, false} {
		f := queue.MessageFilter{}
		if !all {
			f.Queue = "poison"
		}
		res, err := c.BulkAction("remove", f, all, true, false)
		if err != nil || len(res.Done) != 0 || len(res.Failed) != 1 || res.Failed[0].Error != ae.Msg {
			t.Errorf("dry run (all %v): %+v %v; want it failed with the removal's refusal", all, res, err)
		}
	}
	res, err := c.BulkAction("remove", queue.MessageFilter{Queue: "poison"}, false, false, false)
	if err != nil || len(res.Failed) != 1 || res.Failed[0].Error != ae.Msg || len(res.Skipped) != 0 {
		t.Errorf("remove --queue poison: %+v %v", res, err)
	}
	if err := c.CheckMessageActionForce(id, "remove", true); err != nil {
		t.Errorf("dry run of remove --force: %v", err)
	}
	if got, _ := q.Message(m.ID); got == nil {
		t.Fatal("a refused removal or a dry run removed it")
	}
}
