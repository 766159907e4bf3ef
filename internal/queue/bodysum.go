package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Checksums of the bodies stored in the database. A body held whole in
// bodies (or dumpbodies), and the head of a spooled one — the receiving
// server's header section, which replaces the spool file's start and
// which the file's own checksum (checksum.go) therefore does not cover —
// has the CRC-32C of its stored bytes in bucket bodysums under the
// spooled key form ('m' ‖ ID, 'd' ‖ dumpster key). putBodyValue writes
// it and deleteBodyValue deletes it with the value, in the same commit,
// so a crash leaves both or neither (doc.go, the crash argument, point
// 2). BodyOf and DumpsterBodyOf give the Body the stored checksum;
// every reader of its content checks it before the first byte (Reader,
// Bytes, Check, and the claim for delivery, loadBody): a mismatch is an
// error wrapping ErrBodyUnreadable and ErrBodyChecksum, the unreadable
// body of a changed spool file, never delivered, and the message goes
// the way such a body goes (poison, given to the holder of a sound copy:
// handback.go).
//
// A body written by an older release has no entry: read unchecked, as
// before (db verify counts them). One this release wrote has its
// record say so (Message.BodySummed, in the same commit): without its
// entry — a lost write, a tool's delete — its checksum is missing, and
// it is unreadable like a body that fails its checksum (never
// delivered, the same way on), and db verify names it; it is not
// counted as an older release's. The previous release neither writes
// nor deletes entries: a body it writes is unchecked here, an entry for
// a body it removed is left behind and is swept by the next Open
// (sweepBodySums), and a body it rewrote in place under the same key —
// only its restore or compaction, moving a body held whole over
// spool_threshold into a spool file — would fail its check here; go
// back to such a release through `db compact --schema 4` (recordsUnsummed
// drops the bucket), as README "Rolling back a binary" says.

// bodySumKey is the key of the body key of kind in bodysums.
func bodySumKey(kind byte, key []byte) []byte { return refKey(kind, key) }

// putBodySum stores the checksum of v, the value of the body key of
// kind.
func putBodySum(tx *bolt.Tx, kind byte, key, v []byte) error {
	sums := tx.Bucket(bucketBodySums)
	if sums == nil { // a file opened for a restore or compaction of an older release's backup
		return nil
	}
	return sums.Put(bodySumKey(kind, key), binary.BigEndian.AppendUint32(nil, crc32.Checksum(v, castagnoli)))
}

// deleteBodySum deletes the checksum of the body key of kind.
func deleteBodySum(tx *bolt.Tx, kind byte, key []byte) error {
	sums := tx.Bucket(bucketBodySums)
	if sums == nil {
		return nil
	}
	return sums.Delete(bodySumKey(kind, key))
}

// storedBodySum is the checksum stored for the body key of kind, and
// whether there is one. A value of another length is a changed one:
// reported as a checksum no body matches.
func storedBodySum(tx *bolt.Tx, kind byte, key []byte) (sum uint32, ok bool, bad bool) {
	sums := tx.Bucket(bucketBodySums)
	if sums == nil {
		return 0, false, false
	}
	v := sums.Get(bodySumKey(kind, key))
	switch {
	case v == nil:
		return 0, false, false
	case len(v) != 4:
		return 0, true, true
	}
	return binary.BigEndian.Uint32(v), true, false
}

// bodySumExpected reports whether the record of the body key of kind
// says its body was stored with a checksum (Message.BodySummed): a body
// without an entry is then one whose checksum is missing, not an older
// release's unchecked one. A record that does not decode says nothing
// (it is set aside as damaged on its own).
func bodySumExpected(tx *bolt.Tx, kind byte, key []byte) bool {
	var v []byte
	switch kind {
	case refMessage:
		if b := tx.Bucket(bucketMessages); b != nil {
			v = b.Get(key)
		}
	case refDumpster:
		if b := tx.Bucket(bucketDumpster); b != nil {
			v = b.Get(key)
		}
	}
	if v == nil {
		return false
	}
	m, err := decodeMessage(v)
	return err == nil && m.BodySummed
}

// errBodySumMissing is the error of a body whose record says it was
// stored with a checksum that is no longer there.
func errBodySumMissing(n int) error {
	return fmt.Errorf("%w: %w: the body stored in the database (%d bytes): its checksum is missing "+
		"(its record says one was stored with it): the bytes cannot be vouched for", ErrBodyUnreadable, ErrBodyChecksum, n)
}

// checkHead compares the bytes of b held in memory, as read from the
// database, with the checksum stored with them (nil when none was and
// none was meant to be).
func (b Body) checkHead() error {
	if b.sumMissing {
		return errBodySumMissing(len(b.head))
	}
	if !b.summed {
		return nil
	}
	if b.sumBad {
		return fmt.Errorf("%w: %w: its stored checksum is not 4 bytes: changed on disk", ErrBodyUnreadable, ErrBodyChecksum)
	}
	if got := crc32.Checksum(b.head, castagnoli); got != b.sum {
		what := "the body stored in the database"
		if b.Spooled() {
			what = "the header section stored in the database"
		}
		return fmt.Errorf("%w: %w: %s (%d bytes; stored %08x, bytes give %08x): changed on disk",
			ErrBodyUnreadable, ErrBodyChecksum, what, len(b.head), b.sum, got)
	}
	return nil
}

// sweepBodySums deletes the checksums whose body is gone — left by a
// release before body checksums, which deletes bodies without them —
// so that a body stored later under the same key is never checked
// against another's checksum. Open runs it (Store.init), in its commit.
func sweepBodySums(tx *bolt.Tx) (int, error) {
	sums := tx.Bucket(bucketBodySums)
	if sums == nil {
		return 0, nil
	}
	bodies := map[byte]*bolt.Bucket{refMessage: tx.Bucket(bucketBodies), refDumpster: tx.Bucket(bucketDumpBody)}
	var gone [][]byte
	c := sums.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if b := bodies[k[0]]; len(k) < 2 || b == nil || bodyValue(b, k[1:]) == nil {
			gone = append(gone, bytes.Clone(k))
		}
	}
	for _, k := range gone {
		if err := sums.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}

// Unchecked counts what a database or backup holds without a checksum
// of its own (written by an older release): message records (queued,
// in the dumpster or set aside as damaged are not counted: those are
// reported as damage) and bodies whose bytes in the database carry
// none. db verify reports them.
type Unchecked struct {
	Records int
	Bodies  int
}

// UncheckedIn counts them in the database file at path, opened read
// only.
func UncheckedIn(path string) (u Unchecked, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = errors.New(damageText(path, r)) // pagewalk.go
		}
	}()
	f, err := lockDB(path, false, time.Second) // the holder named (openlock.go)
	if err != nil {
		return u, err
	}
	db, err := bolt.Open(path, 0o600, boltOptsOn(f, &bolt.Options{Timeout: time.Second, ReadOnly: true}))
	if err != nil {
		return u, inUse(path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMessages, bucketDumpster} {
			if b := tx.Bucket(name); b != nil {
				_ = b.ForEach(func(_, v []byte) error {
					if v != nil && !recordIsSummed(v) {
						u.Records++
					}
					return nil
				})
			}
		}
		for _, bk := range []struct {
			name []byte
			kind byte
		}{{bucketBodies, refMessage}, {bucketDumpBody, refDumpster}} {
			b := tx.Bucket(bk.name)
			if b == nil {
				continue
			}
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if _, ok, _ := storedBodySum(tx, bk.kind, k); !ok && !bodySumExpected(tx, bk.kind, k) {
					u.Bodies++ // an older release's; one whose checksum is missing is damage (bodySumProblems)
				}
			}
		}
		return nil
	})
	return u, err
}

// bodySumProblems names every body whose bytes in the database do not
// match the checksum stored with them (db verify: changed on disk
// before the backup was written, so the backup's own checksums match).
func bodySumProblems(tx *bolt.Tx) []string {
	var problems []string
	for _, bk := range []struct {
		name []byte
		kind byte
	}{{bucketBodies, refMessage}, {bucketDumpBody, refDumpster}} {
		b := tx.Bucket(bk.name)
		if b == nil {
			continue
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			sum, ok, bad := storedBodySum(tx, bk.kind, k)
			what := describeValue(bk.name, k)
			if bk.kind == refMessage && len(k) == 8 {
				what = fmt.Sprintf("message %s: its body", ID(beUint64(k)))
			}
			if !ok {
				if bodySumExpected(tx, bk.kind, k) {
					problems = append(problems, fmt.Sprintf("%s: its checksum is missing (its record says one was stored with it; "+
						"never delivered: the message is held as poison, or given to the holder of its shadow copy)", what))
				}
				continue
			}
			if v = bodyAt(b, k, v); bad || crc32.Checksum(v, castagnoli) != sum {
				problems = append(problems, fmt.Sprintf("%s does not match its own checksum (changed on disk before the backup was written; "+
					"never delivered: the message is held as poison, or given to the holder of its shadow copy)", what))
			}
		}
	}
	return problems
}
