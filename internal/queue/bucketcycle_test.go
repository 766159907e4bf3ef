package queue

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A damaged file can make a sub-bucket's root point back at its parent:
// the page check must report it as damage, not recurse until the stack
// overflows (a fatal error no recover catches).
func TestCheckPagesBucketCycleIsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cycle.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var parentRoot, childRoot uint64
	err = db.Update(func(tx *bolt.Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		for i := 0; i < 64; i++ { // big enough not to be inlined
			a.Put([]byte(strings.Repeat("k", 20)+string(rune('A'+i))), bytes.Repeat([]byte("v"), 100))
		}
		b, err := a.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i < 64; i++ {
			b.Put([]byte(strings.Repeat("j", 20)+string(rune('A'+i))), bytes.Repeat([]byte("w"), 100))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		a := tx.Bucket([]byte("a"))
		parentRoot, childRoot = uint64(a.Root()), uint64(a.Bucket([]byte("b")).Root())
		return nil
	})
	db.Close()
	if parentRoot == 0 || childRoot == 0 {
		t.Fatalf("inline buckets: roots %d %d", parentRoot, childRoot)
	}
	// In the parent's pages, the child's bucket header (root pgid, then
	// sequence 0) is pointed at the parent's own root.
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want, repl [16]byte
	binary.NativeEndian.PutUint64(want[:], childRoot)
	binary.NativeEndian.PutUint64(repl[:], parentRoot)
	n := bytes.Count(file, want[:])
	if n != 1 {
		t.Fatalf("the child's bucket header found %d times", n)
	}
	file = bytes.Replace(file, want[:], repl[:], 1)
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := checkPages(db); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a bucket cycle: %v", err)
	}
}
