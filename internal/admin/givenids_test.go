package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/queue"
)

// message ACTION ID... and - (ids on standard input) are done in
// batches as a filter's, many messages per commit, the ids sent once
// (OPS-5, Q-4); before, one request and one commit per id. The tally
// names each id's outcome: changed (Done), already in that state
// (Unchanged, by reason, no failure), not found (NotFound: never here,
// no longer here, or no message id at all), refused (Failed: a
// quarantined message, a shadow copy, as by id). A real store and socket, the client
// the CLI uses, one message a batch so that the ids outlast the first.
func TestBulkGivenIDsTally(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	put := func(state queue.State) string {
		m := &queue.Message{ID: st.NewID(now), State: state, From: "a@example.org", NextAttempt: now.Add(time.Hour),
			Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
		if state == queue.Quarantined {
			m.Quarantine = "spam"
		}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, queue.MemBody([]byte("x\r\n"))) }); err != nil {
			t.Fatal(err)
		}
		return m.ID.String()
	}
	ready := []string{put(queue.Ready), put(queue.Ready), put(queue.Ready)}
	held := put(queue.Suspended)
	quarantined := put(queue.Quarantined)
	copyOf := put(queue.Shadow)      // another server's message: not this one's to suspend
	gone := queue.ID(12345).String() // a well-formed id of no message here
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(sock)
	c.SetBatchTime(time.Nanosecond)                                                            // one message a batch: the ids are sent with the first only
	ids := append(slices.Clone(ready), held, quarantined, copyOf, gone, "not-an-id", ready[0]) // ready[0] twice: acted on once
	for _, dry := range []bool{true, false} {
		batches := 0
		res, err := c.BulkActionIDs("suspend", ids, dry, false, false, func(BulkResult) { batches++ })
		if err != nil {
			t.Fatalf("dry run %v: %v", dry, err)
		}
		slices.Sort(res.Done)
		want := slices.Sorted(slices.Values(ready))
		if !slices.Equal(res.Done, want) || len(res.Unchanged) != 1 || res.Unchanged[0].ID != held || res.Unchanged[0].Error != "already suspended" ||
			len(res.Failed) != 2 || res.Failed[0].ID != quarantined || res.Failed[1].ID != copyOf || !slices.Contains(res.NotFound, gone) ||
			!slices.Contains(res.NotFound, "not-an-id") || len(res.NotFound) != 2 || res.Matched != 8 || res.Skipped["already suspended"] != 1 {
			t.Errorf("dry run %v: %+v\nwant done %v, %s unchanged (already suspended), %s and %s refused, %s and not-an-id not found, 8 matched",
				dry, res, want, held, quarantined, copyOf, gone)
		}
		if batches == 0 {
			t.Errorf("dry run %v: the ids were done in one batch; want several (one message a batch)", dry)
		}
		for _, id := range ready {
			m, err := q.Message(mustID(t, id))
			if err != nil || (m.State == queue.Suspended) == dry {
				t.Errorf("dry run %v: %s is %v (%v)", dry, id, m.State, err)
			}
		}
	}
}

func mustID(t *testing.T, s string) queue.ID {
	t.Helper()
	id, err := queue.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
