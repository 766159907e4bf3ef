package queue

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink the manager's goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// SR-7, rt18e: the retired database ids of one server are bounded. A
// server that presents a fresh id again and again (each wipe adds one)
// keeps at most RetiredDatabaseIDsKept retired ids here besides the ones
// a record holds: the oldest retired one is forgotten in the commit that
// retires one more, logged at WARN with the id and why, and counted
// (RetiredDatabaseIDCount). An id a record here still holds — the
// server's own record as a primary, its record as the shadow server of
// messages held here — is never forgotten so, however old.
func TestRetiredDatabaseIDsBounded(t *testing.T) {
	s := openTest(t)
	var logs syncBuffer
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{RetrySchedule: []time.Duration{time.Hour}, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"})
	q.Start(ctx)

	// hub-a as the shadow server of messages held here: its id db-h is
	// held by that record for as long as it stands.
	if _, _, err := q.ShadowHolderSeen("hub-a", "db-h"); err != nil {
		t.Fatal(err)
	}
	extra := 5
	n := RetiredDatabaseIDsKept + 1 + extra // the current one, N retired, and extra more
	for i := range n {
		if _, err := pushCopy(ctx, q, s, "hub-a", fmt.Sprintf("db-a%02d", i)); err != nil {
			t.Fatalf("hub-a presenting db-a%02d: %v", i, err)
		}
	}
	owner := func(id string) string {
		t.Helper()
		o, err := q.ShadowDatabaseOfAnother("hub-c", id)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	for i := range n {
		id := fmt.Sprintf("db-a%02d", i)
		forgotten := i < extra
		if got := owner(id); (got == "") != forgotten {
			t.Errorf("%s: kept as %q's; want forgotten %v (the %d oldest of %d retired)", id, got, forgotten, extra, n-1)
		}
		// The forgetting's WARN (not the takeover's, which names each
		// id the push presented).
		said := slices.ContainsFunc(strings.Split(logs.String(), "\n"), func(l string) bool {
			return strings.Contains(l, "retired transport database id forgotten") && strings.Contains(l, "database_id="+id+" ")
		})
		if said != forgotten {
			t.Errorf("%s: WARN of its forgetting %v, want %v", id, !forgotten, forgotten)
		}
	}
	if owner("db-h") != "hub-a" {
		t.Error("db-h, held by hub-a's record as a shadow server here, was forgotten")
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "retired") {
		t.Errorf("no WARN saying why:\n%s", logs.String())
	}
	if got, err := q.RetiredDatabaseIDCount(); err != nil || got != RetiredDatabaseIDsKept {
		t.Errorf("RetiredDatabaseIDCount() = %d, %v; want %d", got, err, RetiredDatabaseIDsKept)
	}
	// The record going retires its id too: the bound holds then as well.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeletePeer("hub-a") }); err != nil {
		t.Fatal(err)
	}
	if got, err := q.RetiredDatabaseIDCount(); err != nil || got != RetiredDatabaseIDsKept {
		t.Errorf("after hub-a's record went: RetiredDatabaseIDCount() = %d, %v; want %d", got, err, RetiredDatabaseIDsKept)
	}
	extra++ // db-a05 went with it
	// The bound holds across a restart: the order of the ids is stored.
	dir := s.db.Path()
	cancel()
	q.Wait()
	s.Close()
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	q2, ctx2 := newPeerDBManager(t, s2, topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"}, nil)
	for _, id := range []string{"db-new", "db-new2"} { // db-new retires one more
		if _, err := pushCopy(ctx2, q2, s2, "hub-a", id); err != nil {
			t.Fatal(err)
		}
	}
	if o, _ := q2.ShadowDatabaseOfAnother("hub-c", fmt.Sprintf("db-a%02d", extra)); o != "" {
		t.Errorf("after a restart the oldest retired id db-a%02d is kept as %q's", extra, o)
	}
	if o, _ := q2.ShadowDatabaseOfAnother("hub-c", fmt.Sprintf("db-a%02d", extra+1)); o != "hub-a" {
		t.Errorf("after a restart db-a%02d was forgotten out of order", extra+1)
	}
}

// A peerdbs key without its "\x00" separator (damaged, or written by no
// version of umbra) names no retired id: RetiredDatabaseIDCount does
// not count it (umbra_shadow_retired_database_ids; SR-7).
func TestRetiredDatabaseIDCountSkipsMalformedKeys(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"})
	q.Start(ctx)
	for _, id := range []string{"db-a0", "db-a1", "db-a2"} { // two retired, db-a2 held by hub-a's record
		if _, err := pushCopy(ctx, q, s, "hub-a", id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := q.RetiredDatabaseIDCount(); err != nil || got != 2 {
		t.Fatalf("RetiredDatabaseIDCount() = %d, %v; want 2", got, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.tx.Bucket(bucketPeerDBs).Put([]byte("no-separator"), []byte("hub-a")) }); err != nil {
		t.Fatal(err)
	}
	if got, err := q.RetiredDatabaseIDCount(); err != nil || got != 2 {
		t.Errorf("with a malformed key: RetiredDatabaseIDCount() = %d, %v; want 2", got, err)
	}
}
