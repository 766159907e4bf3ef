package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockLeader starts a writer that leads a commit and holds it until
// the returned function is called.
func blockLeader(t *testing.T, s *Store) (release func()) {
	t.Helper()
	hold, held := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.Update(context.Background(), func(*Tx) error { close(held); <-hold; return nil }) }()
	<-held
	return func() {
		close(hold)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// Writers that queue while a commit runs are committed by one of them,
// the oldest, in batches of at most MaxBatch, the lead passing from
// batch to batch until none is left.
func TestGroupCommitLeadPassesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	log := &commitLog{}
	s, err := Open(path, Options{MaxBatch: 3, Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := blockLeader(t, s)
	base := len(log.get())
	const n = 7
	ms := make([]*Message, n)
	errs := make(chan error, n)
	for i := range ms {
		ms[i] = msg(s, "a@example.org", fmt.Sprintf("r%d@example.net", i))
		ms[i].State = Ready
		m := ms[i]
		go func() {
			errs <- s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) })
		}()
		waitFor(t, "the writer to queue", func() bool { return s.queued() == i+1 })
	}
	release()
	for range ms {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a queued writer was never committed: the lead was not passed on")
		}
	}
	if got := log.get()[base:]; fmt.Sprint(got) != "[1 3 3 1]" {
		t.Fatalf("commits %v, want the blocked one and then the queued writers in batches of 3: [1 3 3 1]", got)
	}
	for _, m := range ms {
		if _, err := stored(s, m.ID); err != nil {
			t.Errorf("%v: %v", m.ID, err)
		}
	}
}

// Many writers at once, some deferred, all with small batches: every
// change is committed exactly once and every writer hears so.
func TestGroupCommitSmallBatchesMixed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	log := &commitLog{}
	s, err := Open(path, Options{MaxBatch: 4, DeferLimit: time.Millisecond, Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := len(log.get())
	const writers, each = 16, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ids []ID
	var fails []error
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m := msg(s, "a@example.org", fmt.Sprintf("w%d-%d@example.net", w, i))
				m.State = Ready
				fn := func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }
				var err error
				if (w+i)%3 == 0 {
					err = s.UpdateDeferred(fn)
				} else {
					err = s.Update(context.Background(), fn)
				}
				mu.Lock()
				ids = append(ids, m.ID)
				if err != nil {
					fails = append(fails, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d writers failed, first: %v", len(fails), fails[0])
	}
	total := 0
	for _, b := range log.get()[base:] {
		if b > 4 {
			t.Errorf("a commit of %d writers: more than MaxBatch 4", b)
		}
		total += b
	}
	if total != writers*each {
		t.Errorf("the commits held %d writers, want %d (each exactly once)", total, writers*each)
	}
	for _, id := range ids {
		if _, err := stored(s, id); err != nil {
			t.Errorf("%v: %v", id, err)
		}
	}
	if n := s.queued(); n != 0 {
		t.Errorf("%d writers still queued", n)
	}
}

// A writer whose function panics gets its panic back on its own
// goroutine; the writers sharing its commit are committed without it and
// the store goes on.
func TestGroupCommitWriterPanics(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()

	// Alone: the writer leads its own commit.
	if r := catchPanic(func() { s.Update(ctx, func(*Tx) error { panic("writer alone") }) }); !strings.Contains(fmt.Sprint(r), "writer alone") {
		t.Fatalf("recovered %v, want the writer's panic", r)
	}

	// Queued behind a running commit, with others: the leader of the
	// next batch is whichever is oldest, not necessarily the panicking one.
	for _, first := range []bool{true, false} {
		release := blockLeader(t, s)
		var ms []*Message
		var results []chan any
		for i := 0; i < 3; i++ {
			panics := (first && i == 0) || (!first && i == 1)
			m := msg(s, "a@example.org", fmt.Sprintf("p%d@example.net", i))
			m.State = Ready
			res := make(chan any, 1)
			go func() {
				var err error
				r := catchPanic(func() {
					err = s.Update(ctx, func(tx *Tx) error {
						if panics {
							panic(errors.New("writer in a batch"))
						}
						return tx.PutNew(m, []byte(body))
					})
				})
				if r == nil {
					res <- err
				} else {
					res <- r
				}
			}()
			waitFor(t, "the writer to queue", func() bool { return s.queued() == i+1 })
			if !panics {
				ms = append(ms, m)
			}
			results = append(results, res)
		}
		release()
		npanics := 0
		for _, res := range results {
			select {
			case r := <-res:
				switch r := r.(type) {
				case nil:
				case error:
					if !strings.Contains(r.Error(), "writer in a batch") {
						t.Fatalf("first=%v: %v", first, r)
					}
					npanics++
				default:
					t.Fatalf("first=%v: %v", first, r)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("first=%v: a writer never heard back", first)
			}
		}
		if npanics != 1 {
			t.Fatalf("first=%v: %d writers saw a panic, want 1", first, npanics)
		}
		for _, m := range ms {
			if _, err := stored(s, m.ID); err != nil {
				t.Fatalf("first=%v: a writer sharing the commit with a panicking one: %v", first, err)
			}
		}
	}
	if err := s.Update(ctx, func(*Tx) error { return nil }); err != nil {
		t.Fatalf("after the panics: %v", err)
	}
}

func catchPanic(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

// A leader whose goroutine ends inside the commit (runtime.Goexit, as
// t.FailNow does) answers its batch with an error and passes the lead
// on: the store is not left waiting for it.
func TestGroupCommitLeaderGoexit(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		s.Update(ctx, func(*Tx) error { runtime.Goexit(); return nil })
	}()
	<-exited
	done := make(chan error, 1)
	go func() { done <- s.Update(ctx, func(*Tx) error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the next writer was never committed: the lead died with its goroutine")
	}
}

// Close commits what is queued behind a running commit, then refuses.
func TestGroupCommitCloseWhileLeading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	release := blockLeader(t, s)
	m1, m2 := msg(s, "a@example.org", "x@example.net"), msg(s, "a@example.org", "y@example.net")
	m1.State, m2.State = Ready, Ready
	errs := make(chan error, 2)
	go func() { errs <- s.UpdateDeferred(func(tx *Tx) error { return tx.PutNew(m1, []byte(body)) }) }()
	waitFor(t, "the deferred writer to queue", func() bool { return s.queued() == 1 })
	go func() {
		errs <- s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m2, []byte(body)) })
	}()
	waitFor(t, "the writer to queue", func() bool { return s.queued() == 2 })
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitFor(t, "Close to begin", func() bool { s.gc.mu.Lock(); defer s.gc.mu.Unlock(); return s.gc.closed })
	if err := s.Update(context.Background(), func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("a writer after Close: %v, want ErrClosed", err)
	}
	release()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := storedIDs(t, path, m1.ID, m2.ID); !got[m1.ID] || !got[m2.ID] {
		t.Fatalf("after reopening: %v", got)
	}
}

func stored(s *Store, id ID) (*Message, error) {
	var m *Message
	err := s.View(func(tx *Tx) error { var err error; m, err = tx.Get(id); return err })
	return m, err
}

// A database id presented by the wrong server is refused inside the
// commit that checks it (databaseOfAnotherTx): a decision, not a failed
// commit of the transport database.
func TestDatabaseOfAnotherIsNoFailedCommit(t *testing.T) {
	if !refused(fmt.Errorf("copy refused: %w", &DatabaseOfAnotherError{Server: "hub-c", DatabaseID: "db-a", Other: "hub-a"})) {
		t.Fatal("a database id of another server counts as a failed commit")
	}
}
