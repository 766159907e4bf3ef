package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// previousEncodeRequest and previousDecodeRequest are the request
// record's encoder and decoder as the previous release has them (git
// show f810386^:internal/queue/dumpster.go), kept here unchanged as the
// reference a rollback meets: version 1 only, every field in this
// order, no trailing byte. They use the record primitives (encoder,
// decoder), whose wire form has not changed since.
func previousEncodeRequest(r *Request) []byte {
	e := encoder{buf: []byte{1}}
	e.str(r.Database)
	e.time(r.Since)
	e.time(r.Started)
	e.uint(uint64(r.FirstID))
	e.uint(uint64(r.Phase))
	e.uint(uint64(r.Cleared))
	e.uint(uint64(r.Resubmitted))
	return e.buf
}

func previousDecodeRequest(id string, b []byte) (*Request, error) {
	if len(b) == 0 || b[0] != 1 {
		return nil, fmt.Errorf("%w: request %q: unknown version", errCorrupt, id)
	}
	d := decoder{buf: b[1:]}
	r := &Request{ID: id}
	r.Database = d.str()
	r.Since = d.time()
	r.Started = d.time()
	r.FirstID = ID(d.uint())
	r.Phase = RequestPhase(d.small())
	if r.Phase > Done {
		d.err = fmt.Errorf("phase %d", r.Phase)
	}
	r.Cleared = int(d.small())
	r.Resubmitted = int(d.small())
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: request %q: %v", errCorrupt, id, d.err)
	}
	return r, nil
}

// previousRelease runs fn on the raw requests bucket, as the previous
// release's Tx.Request, PutRequest and DeleteRequest see it.
func previousRelease(t *testing.T, s *Store, fn func(b *bolt.Bucket) error) {
	t.Helper()
	if err := s.db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketRequests)) }); err != nil {
		t.Fatal(err)
	}
}

func sameRequest(a, b *Request) bool {
	return a.ID == b.ID && a.Database == b.Database && a.Since.Equal(b.Since) && a.Started.Equal(b.Started) &&
		a.FirstID == b.FirstID && a.Phase == b.Phase && a.Cleared == b.Cleared && a.Resubmitted == b.Resubmitted && a.Skipped == b.Skipped
}

// A rollback to the previous release reads every request this release
// writes — with skipped copies too — and this release reads every one
// the previous release writes: the record keeps the version-1 layout,
// and the count of skipped copies lives beside it (bucket requestext),
// where the previous release does not look.
func TestRequestRecordsReadAcrossRollback(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	r := &Request{ID: "failover-1", Database: "DB1", Since: t0.Add(-time.Hour), Started: t0, FirstID: 77,
		Phase: Done, Cleared: 4, Resubmitted: 5, Skipped: 2}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutRequest(r) }); err != nil {
		t.Fatal(err)
	}
	// New → previous: the previous release's decoder reads it whole,
	// without the count it does not know.
	previousRelease(t, s, func(b *bolt.Bucket) error {
		old, err := previousDecodeRequest(r.ID, b.Get([]byte(r.ID)))
		if err != nil {
			return fmt.Errorf("the previous release cannot read this release's request: %w", err)
		}
		want := *r
		want.Skipped = 0
		if !sameRequest(old, &want) {
			return fmt.Errorf("the previous release reads %+v, want %+v", old, want)
		}
		return nil
	})
	if got := getRequest(t, s, r.ID); !sameRequest(got, r) {
		t.Fatalf("read back %+v, want %+v", got, r)
	}

	// Previous → new: a record the previous release wrote (it carries on
	// an interrupted request after a rollback) is read, and keeps the
	// count this release recorded for the same request.
	prev := &Request{ID: r.ID, Database: r.Database, Since: r.Since, Started: r.Started, FirstID: r.FirstID,
		Phase: Done, Cleared: 4, Resubmitted: 6}
	previousRelease(t, s, func(b *bolt.Bucket) error { return b.Put([]byte(r.ID), previousEncodeRequest(prev)) })
	want := *prev
	want.Skipped = 2
	if got := getRequest(t, s, r.ID); !sameRequest(got, &want) {
		t.Fatalf("after the previous release wrote it: %+v, want %+v", got, want)
	}

	// The previous release forgets the request (its prune deletes only
	// the record) and a new request takes the same id: the count of the
	// old one is not carried over to it.
	previousRelease(t, s, func(b *bolt.Bucket) error { return b.Delete([]byte(r.ID)) })
	if err := s.View(func(tx *Tx) error { _, err := tx.Request(r.ID); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a forgotten request: %v, want ErrNotFound", err)
	}
	fresh := &Request{ID: r.ID, Database: "DB2", Since: t0, Started: t0.Add(time.Hour), FirstID: 99, Phase: Clearing}
	previousRelease(t, s, func(b *bolt.Bucket) error { return b.Put([]byte(r.ID), previousEncodeRequest(fresh)) })
	if got := getRequest(t, s, r.ID); !sameRequest(got, fresh) {
		t.Fatalf("a new request under a reused id: %+v, want %+v (no count of the old one)", got, fresh)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeleteRequest(r.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error {
		if k, _ := tx.tx.Bucket(bucketRequestExt).Cursor().First(); k != nil {
			return fmt.Errorf("DeleteRequest left the extension of %q", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A version-2 request (Skipped inside the record), written by a build
// between the two releases, is rewritten at open into the layout the
// previous release reads, its count kept; an extension whose request is
// gone is dropped there too.
func TestVersion2RequestsRewrittenAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	r := &Request{ID: "v2", Database: "DB1", Since: t0, Started: t0.Add(time.Minute), FirstID: 5, Phase: Resubmitting, Cleared: 1, Resubmitted: 2, Skipped: 3}
	e := encoder{buf: previousEncodeRequest(r)}
	e.buf[0] = 2
	e.uint(uint64(r.Skipped))
	v2 := e.buf
	if got, err := decodeRequest(r.ID, v2); err != nil || !sameRequest(got, r) {
		t.Fatalf("version 2 decodes to %+v, %v", got, err)
	}
	previousRelease(t, s, func(b *bolt.Bucket) error { return b.Put([]byte(r.ID), v2) })
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequestExt).Put([]byte("orphan"), encodeRequestExt(&Request{FirstID: 1, Skipped: 9}))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	previousRelease(t, s, func(b *bolt.Bucket) error {
		_, err := previousDecodeRequest(r.ID, b.Get([]byte(r.ID)))
		return err
	})
	if got := getRequest(t, s, r.ID); !sameRequest(got, r) {
		t.Fatalf("after the rewrite: %+v, want %+v", got, r)
	}
	if err := s.View(func(tx *Tx) error {
		if tx.tx.Bucket(bucketRequestExt).Get([]byte("orphan")) != nil {
			return errors.New("an orphan extension stayed")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func getRequest(t *testing.T, s *Store, id string) *Request {
	t.Helper()
	var r *Request
	if err := s.View(func(tx *Tx) error {
		var err error
		r, err = tx.Request(id)
		if err != nil {
			return err
		}
		for _, o := range tx.Requests() {
			if o.ID == id && !sameRequest(o, r) {
				return fmt.Errorf("Requests lists %+v, Request reads %+v", o, r)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// The extension record never panics and rejects what it cannot read.
func FuzzDecodeRequestExt(f *testing.F) {
	f.Add(encodeRequestExt(&Request{FirstID: 7, Skipped: 3}))
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = decodeRequestExt(b)
	})
}
