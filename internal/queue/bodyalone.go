package queue

import (
	"bytes"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A body on its own pages. bbolt keeps at least two values in a leaf
// (it splits no leaf of four values or fewer), and it writes a leaf
// whole, every value in it, whenever one of them changes. Bodies stored
// as values of the body bucket (bodies, dumpbodies) side by side would
// therefore be copied and written again with every body put into or
// deleted from their leaf: at 100 KiB bodies that was one to three
// neighbours' bytes per commit. So a body longer than bodyAloneMin is
// the one value (key bodyValueKey) of a bucket of its own under its key:
// its leaf holds nothing else, the body bucket's own leaf holds only the
// small bucket headers, and a put or a delete writes (or frees) that
// body's pages and no other body's.
//
// A body of bodyAloneMin bytes or fewer stays a value of the body
// bucket, as every body was before schema version 4 (schema.go): a
// bucket of its own ends on a page of its own, half a page unused on
// average, which beside a body of a page or two is a third more file
// (4 KiB bodies: 64 → 84 MiB used for 10,000, BENCHMARKS.md), while
// writing the one to three such neighbours again costs little; from
// four pages up the unused half page is at most an eighth, and the
// neighbours written again would be tens of KiB. Every reader takes both
// forms; an older release reads only the value form, which is why the
// bucket form comes with schema version 4, which older releases refuse
// to open (README, "Upgrades and rollback"; `umbra db compact --schema
// 3`, CompactTo, writes a version-3 file back for a rollback).
const bodyAloneMin = 16 << 10

// bodyValueKey is the key of the one value of a body's own bucket (the
// same as a backup's spooled pieces, spoolbackup.go).
var bodyValueKey = pieceValueKey

// putBodyValue stores body under key in the body bucket b (of kind
// refMessage or refDumpster), in the form its length calls for,
// replacing whatever key held (either form), and its checksum
// (bodysum.go).
// bbolt holds body until the commit: the caller must not change it.
func putBodyValue(b *bolt.Bucket, kind byte, key, body []byte) error {
	if err := putBodySum(b.Tx(), kind, key, body); err != nil { // bodysum.go
		return err
	}
	if b.Bucket(key) != nil {
		if err := b.DeleteBucket(key); err != nil {
			return err
		}
	}
	if len(body) <= bodyAloneMin {
		return b.Put(key, body)
	}
	// Whatever value key holds goes first, an empty one too: within a
	// write transaction bbolt's Get answers nil for a value put as nil
	// (PutNew's placeholder before a spooled body's head, spoolref.go),
	// so Get cannot tell "no value" from "an empty value", and
	// CreateBucket on a key holding any value fails with "incompatible
	// value". Delete of a missing key does nothing.
	if err := b.Delete(key); err != nil {
		return err
	}
	own, err := b.CreateBucket(key)
	if err != nil {
		return err
	}
	return own.Put(bodyValueKey, body)
}

// bodyValue is the body key holds in the body bucket b, in either form;
// nil when it holds none. The slice is bbolt's: valid until the
// transaction ends, and never to be changed.
func bodyValue(b *bolt.Bucket, key []byte) []byte {
	if v := b.Get(key); v != nil {
		return v
	}
	if own := b.Bucket(key); own != nil {
		if v := own.Get(bodyValueKey); v != nil {
			return v
		}
		return []byte{} // a bucket of its own is a body, if an empty one
	}
	return nil
}

// bodyAt is bodyValue for the cursor position k, v of the body bucket b
// (v is nil at a bucket of its own).
func bodyAt(b *bolt.Bucket, k, v []byte) []byte {
	if v != nil {
		return v
	}
	return bodyValue(b, k)
}

// deleteBodyValue removes the body key holds in the body bucket b, in
// either form, and its checksum; nothing when there is none. A bucket's pages are freed
// without being read or written.
func deleteBodyValue(b *bolt.Bucket, kind byte, key []byte) error {
	if err := deleteBodySum(b.Tx(), kind, key); err != nil { // bodysum.go
		return err
	}
	if b.Bucket(key) != nil {
		return b.DeleteBucket(key)
	}
	return b.Delete(key)
}

// bodiesAsValues rewrites the database file at path — a compaction's
// new copy, which nothing else has open (CompactTo) — as schema version
// 3, the layout a release before bucket-form bodies reads: every body
// in a bucket of its own becomes a value of its body bucket again. The
// bodies are moved in commits of at most bodiesAsValuesBatch bytes (a
// value read in a write transaction must be copied before the file
// grows under it); the caller fsyncs the file before it takes the
// database's name, so a crash leaves the old file.
func bodiesAsValues(dir *os.File, path string) error {
	db, err := openOwnBoltIn(dir, path, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, NoSync: true})
	if err != nil {
		return err
	}
	err = func() error {
		var version []byte
		if err := db.View(func(tx *bolt.Tx) error {
			if meta := tx.Bucket(bucketMeta); meta != nil {
				version = bytes.Clone(meta.Get(keySchemaVersion))
			}
			return nil
		}); err != nil {
			return err
		}
		if len(version) != 1 || (version[0] != 3 && version[0] != 4) {
			return fmt.Errorf("schema version %x: only a file of version 3 or 4 is written as version 3 "+
				"(start this release on it first)", version)
		}
		for _, name := range [][]byte{bucketBodies, bucketDumpBody} {
			var keys [][]byte
			if err := db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket(name)
				if b == nil {
					return nil
				}
				return b.ForEachBucket(func(k []byte) error {
					keys = append(keys, bytes.Clone(k))
					return nil
				})
			}); err != nil {
				return err
			}
			for len(keys) > 0 {
				if err := db.Update(func(tx *bolt.Tx) error {
					b := tx.Bucket(name)
					for n := 0; len(keys) > 0 && n < bodiesAsValuesBatch; keys = keys[1:] {
						v := bytes.Clone(bodyValue(b, keys[0]))
						if err := b.DeleteBucket(keys[0]); err != nil {
							return err
						}
						if err := b.Put(keys[0], v); err != nil {
							return err
						}
						n += len(v)
					}
					return nil
				}); err != nil {
					return err
				}
			}
		}
		return db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{3})
		})
	}()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// bodiesAsValuesBatch bounds the body bytes one commit of bodiesAsValues
// holds in memory.
const bodiesAsValuesBatch = 64 << 20
