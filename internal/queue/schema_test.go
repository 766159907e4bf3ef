package queue

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A version 1 file (duplicate records without a database) is upgraded at
// open: its records are dropped, its messages and id stay.
func TestSchemaUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := s.DatabaseID()
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{1})
		return tx.Bucket(bucketDelivered).Put(make([]byte, 16), make([]byte, 8))
	})
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *Tx) error {
		if n := tx.tx.Bucket(bucketDelivered).Stats().KeyN; n != 0 {
			t.Errorf("%d old records kept", n)
		}
		if v := tx.tx.Bucket(bucketMeta).Get(keySchemaVersion); len(v) != 1 || v[0] != schemaVersion {
			t.Errorf("schema version %v", v)
		}
		return nil
	})
	if s.DatabaseID() != id {
		t.Error("the upgrade changed the database id")
	}
}

type batchLog struct {
	mu      sync.Mutex
	batches []int
}

func (b *batchLog) Commit(_ time.Duration, n int, _ error) {
	b.mu.Lock()
	b.batches = append(b.batches, n)
	b.mu.Unlock()
}

// A lazy write alone still commits (after lazyWait); a lazy write and a
// plain one that comes while it waits share one commit; and a lazy write
// returns only once its commit is on disk, like any other.
func TestLazyWritesShareCommits(t *testing.T) {
	defer func(w time.Duration) { lazyWait = w }(lazyWait)
	lazyWait = 300 * time.Millisecond // room for a slow scheduler
	log := &batchLog{}
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(k string) func(*Tx) error {
		return func(tx *Tx) error { return tx.tx.Bucket(bucketMeta).Put([]byte(k), []byte("v")) }
	}
	if err := s.UpdateLazy(context.Background(), put("alone")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.UpdateLazy(context.Background(), put("lazy")) }()
	time.Sleep(50 * time.Millisecond)
	if err := s.Update(context.Background(), put("plain")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.batches) != 2 || log.batches[0] != 1 || log.batches[1] != 2 {
		t.Errorf("commit batches %v, want [1 2]", log.batches)
	}
	s.View(func(tx *Tx) error {
		for _, k := range []string{"alone", "lazy", "plain"} {
			if tx.tx.Bucket(bucketMeta).Get([]byte(k)) == nil {
				t.Errorf("%s not written", k)
			}
		}
		return nil
	})
}
