package queue

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A backup carries checksums of its content (bucket backupsums,
// schema.go): SaveBackup records, in the commit that marks the copy as
// a backup, the SHA-256 of every bucket's keys and values and of every
// message record and body (a spooled body is in the backup in pieces,
// bucket backupspool: each piece has its checksum, computed a piece at a
// time), and a checksum of those checksums.
// Restore recomputes them on the copy it is about to put in place and
// refuses the backup when one differs, naming the message, dumpster copy
// or bucket that changed. bbolt checks the structure of its pages (a
// truncated or overwritten file), not the bytes of the values in them:
// without the checksums a changed byte inside a body would be restored
// and delivered. Free pages are not covered; what they hold is never
// read.

// ErrNoChecksums is returned by Restore for a backup that carries no
// checksums: written by an umbra release that did not record them, so
// its content cannot be verified. RestoreOptions.Unverified accepts it.
var ErrNoChecksums = errors.New("the backup carries no checksums")

// backupSumsVersion 2: spooled bodies are in bucket backupspool, in
// pieces; version 1 (bodies whole in the body buckets) is still read. A
// release that knows only 1 refuses a version 2 backup, which it would
// restore without those bodies.
const backupSumsVersion = 2

func knownSumsVersion(v []byte) bool { return len(v) == 1 && (v[0] == 1 || v[0] == backupSumsVersion) }

var (
	keySumsVersion = []byte("#version")
	keySumsSelf    = []byte("#self")
)

// perValueSums are the buckets whose every value has its own checksum,
// so that a refusal names the message.
var perValueSums = [][]byte{bucketMessages, bucketBodies, bucketDumpster, bucketDumpBody, bucketBackupSpool}

func hasValueSums(name []byte) bool {
	for _, b := range perValueSums {
		if bytes.Equal(b, name) {
			return true
		}
	}
	return false
}

// holdsValueBuckets says whether a nested bucket of bucket name stands
// for one value: the pieces of a backup's spooled bodies, and bodies in
// a bucket of their own (bodyalone.go).
func holdsValueBuckets(name []byte) bool {
	return bytes.Equal(name, bucketBackupSpool) || bytes.Equal(name, bucketBodies) || bytes.Equal(name, bucketDumpBody)
}

// oneValue is the one value of a piece's or a body's bucket; an empty
// body's bucket has none.
func oneValue(nb *bolt.Bucket) []byte {
	if v := nb.Get(pieceValueKey); v != nil {
		return v
	}
	return []byte{}
}

func bucketSumKey(name []byte) []byte { return append([]byte{'b'}, name...) }

func valueSumKey(name, k []byte) []byte {
	out := append([]byte{'v'}, name...)
	out = append(out, 0)
	return append(out, k...)
}

// writeEntry feeds one key and value to h, lengths first, so that no two
// different sequences of entries hash alike.
func writeEntry(h hash.Hash, kind byte, k, v []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte{kind})
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
	h.Write(k)
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(v)))])
	h.Write(v)
}

// hashBucket feeds every key and value of b (nested buckets included)
// to h in key order, and calls each for every top-level value (with
// pieces true, for every nested bucket too, with its one value: a piece
// of bucket backupspool, a body in a bucket of its own in bodies or
// dumpbodies, bodyalone.go).
func hashBucket(h hash.Hash, b *bolt.Bucket, pieces bool, each func(k, v []byte)) {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				writeEntry(h, 'B', k, nil)
				hashBucket(h, nb, false, nil)
				writeEntry(h, 'E', nil, nil)
				if pieces && each != nil {
					each(k, oneValue(nb))
				}
				continue
			}
		}
		writeEntry(h, 'V', k, v)
		if each != nil {
			each(k, v)
		}
	}
}

// sealBackup records the checksums of everything tx holds, replacing
// any it held.
func sealBackup(tx *bolt.Tx) error {
	if tx.Bucket(bucketBackupSums) != nil {
		if err := tx.DeleteBucket(bucketBackupSums); err != nil {
			return err
		}
	}
	sums, err := tx.CreateBucket(bucketBackupSums)
	if err != nil {
		return err
	}
	if err := sums.Put(keySumsVersion, []byte{backupSumsVersion}); err != nil {
		return err
	}
	err = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if bytes.Equal(name, bucketBackupSums) {
			return nil
		}
		perValue := hasValueSums(name)
		var perr error
		h := sha256.New()
		hashBucket(h, b, holdsValueBuckets(name), func(k, v []byte) {
			if perValue && perr == nil {
				s := sha256.Sum256(v)
				perr = sums.Put(valueSumKey(name, k), s[:])
			}
		})
		if perr != nil {
			return perr
		}
		return sums.Put(bucketSumKey(name), h.Sum(nil))
	})
	if err != nil {
		return err
	}
	return sums.Put(keySumsSelf, sumsSelf(sums))
}

// sumsSelf is the checksum of every entry of the checksum bucket but
// its own.
func sumsSelf(sums *bolt.Bucket) []byte {
	h := sha256.New()
	c := sums.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if !bytes.Equal(k, keySumsSelf) {
			writeEntry(h, 'V', k, v)
		}
	}
	return h.Sum(nil)
}

// BackupDamage lists what in a backup differs from its checksums.
type BackupDamage struct {
	Problems []string
}

func (d *BackupDamage) Error() string {
	const show = 10
	if len(d.Problems) <= show {
		return strings.Join(d.Problems, "; ")
	}
	return strings.Join(d.Problems[:show], "; ") + fmt.Sprintf("; and %d more", len(d.Problems)-show)
}

// describeValue names the value at key k of bucket name for an operator.
func describeValue(name, k []byte) string {
	if bytes.Equal(name, bucketBackupSpool) && len(k) > 4 {
		what, _ := describeRef(k[:len(k)-4]) // a piece of a spooled body: named as the body
		return what + ": its body"
	}
	what := "record"
	if bytes.Equal(name, bucketBodies) || bytes.Equal(name, bucketDumpBody) {
		what = "body"
	}
	switch {
	case bytes.Equal(name, bucketMessages) || bytes.Equal(name, bucketBodies):
		if len(k) == 8 {
			return fmt.Sprintf("message %s: its %s", ID(binary.BigEndian.Uint64(k)), what)
		}
	default:
		if dk, ok := parseDumpsterKey(k); ok {
			return fmt.Sprintf("dumpster copy of message %s (database %s, kept %s): its %s", dk.ID, dk.Database,
				dk.KeptAt.UTC().Format(time.RFC3339), what)
		}
	}
	return fmt.Sprintf("bucket %q, key %x", name, k)
}

// verifySums checks everything tx holds against its checksums.
func verifySums(tx *bolt.Tx) error {
	sums := tx.Bucket(bucketBackupSums)
	if sums == nil {
		return ErrNoChecksums
	}
	if !bytes.Equal(sums.Get(keySumsSelf), sumsSelf(sums)) {
		return &BackupDamage{Problems: []string{"the backup's checksum table (bucket \"backupsums\") differs from its own checksum"}}
	}
	if v := sums.Get(keySumsVersion); !knownSumsVersion(v) {
		return fmt.Errorf("the backup's checksums are of version %x, written by a newer release of umbra; this one knows version %d",
			v, backupSumsVersion)
	}
	var problems []string
	seen := map[string]bool{}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if bytes.Equal(name, bucketBackupSums) {
			return nil
		}
		seen[string(name)] = true
		want := sums.Get(bucketSumKey(name))
		if want == nil {
			problems = append(problems, fmt.Sprintf("bucket %q was not in the backup when it was written", name))
			return nil
		}
		perValue := hasValueSums(name)
		found := 0
		h := sha256.New()
		hashBucket(h, b, holdsValueBuckets(name), func(k, v []byte) {
			if !perValue {
				return
			}
			w := sums.Get(valueSumKey(name, k))
			switch {
			case w == nil:
				found++
				problems = append(problems, describeValue(name, k)+" was not in the backup when it was written")
			case len(w) != sha256.Size || sha256.Sum256(v) != [sha256.Size]byte(w):
				found++
				problems = append(problems, describeValue(name, k)+" differs from the checksum taken when the backup was written")
			}
		})
		if perValue {
			prefix := valueSumKey(name, nil)
			c := sums.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				key := k[len(prefix):]
				if b.Get(key) == nil && b.Bucket(key) == nil {
					found++
					problems = append(problems, describeValue(name, key)+" is missing")
				}
			}
		}
		if !bytes.Equal(h.Sum(nil), want) && found == 0 {
			problems = append(problems, fmt.Sprintf("bucket %q differs from the checksum taken when the backup was written", name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	c := sums.Cursor()
	for k, _ := c.Seek([]byte{'b'}); k != nil && k[0] == 'b'; k, _ = c.Next() {
		if !seen[string(k[1:])] {
			problems = append(problems, fmt.Sprintf("bucket %q is missing", k[1:]))
		}
	}
	if len(problems) > 0 {
		return &BackupDamage{Problems: problems}
	}
	return nil
}

// VerifyBackup reads every page of the backup at path and checks its
// content against the checksums recorded when it was written: nil for
// a sound backup, ErrNoChecksums (wrapped) for one that carries none,
// ErrNewerSchema (wrapped) for one a newer release wrote, a
// *BackupDamage naming what changed, a *RecordDamage naming the
// message records that do not decode (checkRecords), or the page fault
// met.
func VerifyBackup(path string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = errors.New(damageText(path, r)) // pagewalk.go: the page, bucket and key
		}
	}()
	// Its meta pages first, with ordinary reads: a page beyond a
	// truncated file's end is never read through the mapping, and a
	// file shorter than its pages is not sound even when the pages cut
	// off are free ones (filecheck.go); and its page tree, which a
	// writable open (a restore's) walks with bbolt's fatal checks
	// (pagewalk.go). Under the shared lock (openlock.go): the live
	// database, named by mistake, is refused as in use, not walked
	// while its daemon rewrites it.
	f, err := lockDB(path, false, time.Second)
	if err != nil {
		return err
	}
	if err := checkPageTree(path); err != nil {
		closeLocked(f)
		return err
	}
	db, err := bolt.Open(path, 0o600, boltOptsOn(f, &bolt.Options{Timeout: time.Second, ReadOnly: true}))
	if err != nil {
		return inUse(path, err)
	}
	defer db.Close()
	// A newer release's backup is named so first: its checksums may be
	// of a version this one cannot read either.
	if err := db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			return backupSchema(path, meta)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := checkPages(db); err != nil {
		return err
	}
	if err := db.View(verifySums); err != nil {
		return err
	}
	return db.View(checkRecords)
}

// RecordDamage names the message records of a database or backup that
// do not decode although its checksums match: damaged before the backup
// was written, or set aside as damaged by the server (damaged.go). db
// verify reports such a backup as not sound; db restore restores it (the
// first start sets the records aside, as it does for a live database).
type RecordDamage struct {
	Problems []string
}

func (d *RecordDamage) Error() string {
	return (&BackupDamage{Problems: d.Problems}).Error()
}

// checkRecords decodes every message record of the queue and of the
// dumpster, checks every body held in the database against its own
// checksum (bodysum.go), and lists the records set aside as damaged: a
// *RecordDamage naming each, or nil.
func checkRecords(tx *bolt.Tx) error {
	var problems []string
	if b := tx.Bucket(bucketMessages); b != nil {
		_ = b.ForEach(func(k, v []byte) error {
			if why := damagedWhy(k, v); why != "" {
				problems = append(problems, fmt.Sprintf("%s does not decode: %s", describeValue(bucketMessages, k), why))
			}
			return nil
		})
	}
	if b := tx.Bucket(bucketDumpster); b != nil {
		_ = b.ForEach(func(k, v []byte) error {
			if v == nil {
				return nil
			}
			if _, err := decodeMessage(v); err != nil {
				problems = append(problems, fmt.Sprintf("%s does not decode: %v (%d bytes)", describeValue(bucketDumpster, k), err, len(v)))
			}
			return nil
		})
	}
	problems = append(problems, bodySumProblems(tx)...) // bodysum.go
	if b := tx.Bucket(bucketDamaged); b != nil {
		_ = b.ForEach(func(k, v []byte) error {
			if len(k) == 8 {
				problems = append(problems, fmt.Sprintf("message %s: its record was set aside as damaged by the server (%d bytes; "+
					"umbra message remove %s on the server removes it)", ID(beUint64(k)), len(v), ID(beUint64(k))))
			}
			return nil
		})
	}
	if len(problems) > 0 {
		return &RecordDamage{Problems: problems}
	}
	return nil
}
