package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// OPS tracking (rrops40, the audit sibling of opsrt40 F8): the admin
// audit line of a message action lists the recipients the action takes
// — those still pending —, not one delivered before it, so that track
// --recipient for the delivered one shows no operator action on its
// copy. For each message action, on a real queue and tracking log.
func TestOPSAuditLineListsOnlyTheRecipientsTheActionTakes(t *testing.T) {
	for _, action := range []string{"suspend", "remove"} {
		dir := t.TempDir()
		st := openStore(t, dir)
		q := queue.NewManager(st, nil, queue.ManagerConfig{}) // not started: the message waits
		m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "a@example.org",
			Rcpts: []queue.Recipient{
				{Addr: "alice@example.test", Status: queue.Delivered},
				{Addr: "bob@example.net", Status: queue.Pending},
			}}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nx\r\n")) }); err != nil {
			t.Fatal(err)
		}
		tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(dir, "admin.sock")
		s, err := Listen(sock, q, tl, Status{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve()
		if err := NewClient(sock).MessageAction(m.ID.String(), action, false); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
		if err != nil || len(es) != 1 || !slices.Equal(es[0].Recipients, []string{"bob@example.net"}) {
			t.Errorf("%s: audit lines %+v (%v); want one listing bob@example.net alone (alice was delivered before)", action, es, err)
		}
		if es, err := tl.Search(tracking.Query{Recipient: "alice@example.test"}); err != nil || len(es) != 0 {
			t.Errorf("%s: track --recipient alice shows %+v (%v); want nothing (her copy was delivered before the action)", action, es, err)
		}
		s.Shutdown(context.Background())
		tl.Close()
	}
}
