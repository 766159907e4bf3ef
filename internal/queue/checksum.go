package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Checksums of stored mail (schema version 5). The disk is trusted to
// give back what was committed only as far as a checksum says so: every
// message record (queued or in the dumpster) is written with a CRC-32C
// of its bytes as its last four, in the same Put, so the record and its
// checksum are one value of one commit and a crash leaves both or
// neither (doc.go, the crash argument, point 2). The version byte of a
// record so written has recordSummed set; Get, ForEach and every other
// reader decode through decodeMessage, which checks the checksum before
// it reads a field, so a record whose checksum fails is what a record
// that does not decode is: set aside in the queue damaged (damaged.go),
// never delivered, never a reason to discard or bounce anything.
//
// CRC-32C, not a cryptographic hash: what it is checked against is the
// disk (a sector returned with other bytes, a write lost or misplaced,
// a byte overwritten by a tool), not an adversary who can write the
// data directory — that one could rewrite the checksum too. A CRC-32C
// detects every change of up to three bits and every burst of up to 32
// bits in a record, and any other change but with a chance of 2^-32; it
// is computed by the CPU's own instruction (SSE 4.2, ARMv8 CRC) at many
// GB/s, so checking it on every read costs next to nothing.
//
// A record written by an older release (or before the upgrade to
// version 5) has no checksum: it is read as before, unchecked, and gets
// one the first time it is written again. A byte changed in memory
// before the write, or by a defect of umbra's own, is stored with a
// matching checksum and is not detected.
const recordSummed = 0x40

// appendRecordSum marks the record b (as encode wrote it, unsummed) as
// summed and appends its checksum.
func appendRecordSum(b []byte) []byte {
	b[0] |= recordSummed
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// checkRecordSum returns the record b without its checksum, with the
// version byte of the unsummed form, and whether it carried one. A
// record whose checksum does not match is an error wrapping errCorrupt.
func checkRecordSum(b []byte) (rec []byte, summed bool, err error) {
	if len(b) == 0 || b[0]&recordSummed == 0 {
		return b, false, nil
	}
	if len(b) < 5 {
		return nil, true, fmt.Errorf("%w: %d bytes, too short for its checksum", errCorrupt, len(b))
	}
	n := len(b) - 4
	if got, want := crc32.Checksum(b[:n], castagnoli), binary.BigEndian.Uint32(b[n:]); got != want {
		return nil, true, fmt.Errorf("%w: checksum mismatch (stored %08x, bytes give %08x): changed on disk", errCorrupt, want, got)
	}
	rec = make([]byte, n)
	copy(rec, b[:n])
	rec[0] &^= recordSummed
	return rec, true, nil
}

// RecordSummed reports whether the stored record b carries a checksum
// (db verify counts those that do not).
func recordIsSummed(b []byte) bool { return len(b) > 0 && b[0]&recordSummed != 0 }

// recordsUnsummedBatch bounds the records one commit of recordsUnsummed
// rewrites.
const recordsUnsummedBatch = 4096

// recordsUnsummed writes the database at path (a compaction's copy, not
// yet in place) for a release of schema version 4: every record that
// carries a checksum is written without it, after it is checked (one
// whose checksum fails is left as found: the older release sets it
// aside, as this one would), the body checksums (bodysum.go) are
// dropped, and the version number is set to 4.
func recordsUnsummed(dir *os.File, path string) error {
	db, err := openOwnBoltIn(dir, path, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, NoSync: true})
	if err != nil {
		return err
	}
	err = func() error {
		for _, name := range [][]byte{bucketMessages, bucketDumpster} {
			var keys [][]byte
			if err := db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket(name)
				if b == nil {
					return nil
				}
				return b.ForEach(func(k, v []byte) error {
					if v != nil && recordIsSummed(v) {
						keys = append(keys, bytes.Clone(k))
					}
					return nil
				})
			}); err != nil {
				return err
			}
			for len(keys) > 0 {
				if err := db.Update(func(tx *bolt.Tx) error {
					b := tx.Bucket(name)
					for n := 0; len(keys) > 0 && n < recordsUnsummedBatch; keys, n = keys[1:], n+1 {
						rec, _, err := checkRecordSum(b.Get(keys[0]))
						if err != nil {
							continue
						}
						// Without the body checksums, which go below, the
						// record no longer says its body has one (a new
						// upgrade would take every body for one whose
						// checksum is missing). A held recipient's next
						// hop's reply kept apart (record version 4,
						// heldover.go) is dropped: the older release
						// reads the hold's note alone, as it wrote it.
						if m, err := decodeMessage(b.Get(keys[0])); err == nil && (m.BodySummed || m.keepsHopReply()) {
							m.BodySummed = false
							for i := range m.Rcpts {
								m.Rcpts[i].HopReply, m.Rcpts[i].HopHost = "", ""
							}
							rec, _, _ = checkRecordSum(m.encode())
						}
						if err := b.Put(keys[0], rec); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					return err
				}
			}
		}
		return db.Update(func(tx *bolt.Tx) error {
			// The body checksums go too: that release would neither
			// write nor delete them (bodysum.go).
			if err := tx.DeleteBucket(bucketBodySums); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{4})
		})
	}()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrBodyChecksum is a stored body whose bytes do not match the checksum
// written with them: changed on disk. It comes wrapped with
// ErrBodyUnreadable, so every consumer takes it as an unreadable body.
var ErrBodyChecksum = errors.New("stored body does not match its checksum")

// Spool files (body.go) are checksummed whole: the file NewSpool makes
// is named with summedSpoolPrefix, and Finish appends the CRC-32C of
// every byte written (4 bytes, big-endian) before it syncs the file, so
// the checksum is durable with the data before any commit names the
// file (doc.go, point 7 (a)). The records that name the file name a
// part of it (a receiving server's head replaces its start, so the part
// ends where the file's content does); a reader of that part reads the
// bytes before it too (the header section as received) and checks the
// whole before it reports the end of the part. A file
// whose name lacks the prefix was written by an older release (a
// restore or compaction writes its files with the checksum too,
// restorespool.go): read unchecked, as before.
const summedSpoolPrefix = "c-"

// spoolSummed reports whether the spool file name carries a checksum.
func spoolSummed(name string) bool { return strings.HasPrefix(name, summedSpoolPrefix) }

// spoolSumLen is the length of a spool file's checksum trailer.
const spoolSumLen = 4

// spoolCheck is the checksum state of one reader of a summed spool file.
type spoolCheck struct {
	sum uint32
}

// startSpoolCheck hashes the file's bytes before off. The part a record
// names always ends where the content written ends (a new head only
// moves its start), so the checksum lies right after it, at off+n:
// bytes appended to the file after that are never read, as before.
func startSpoolCheck(f *os.File, name string, off, n int64) (*spoolCheck, error) {
	sum, err := hashFileRange(f, 0, off, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: spool file %s: %w", ErrBodyUnreadable, name, err)
	}
	return &spoolCheck{sum: sum}, nil
}

// finish compares the sum of every byte before end (the part's end) with
// the checksum stored after it.
func (c *spoolCheck) finish(f *os.File, name string, end int64) error {
	var tr [spoolSumLen]byte
	if k, err := f.ReadAt(tr[:], end); k < len(tr) {
		return fmt.Errorf("%w: %w: spool file %s: its checksum after byte %d: %v", ErrBodyUnreadable, ErrSpoolShort, name, end, err)
	}
	if want := binary.BigEndian.Uint32(tr[:]); want != c.sum {
		return fmt.Errorf("%w: %w: spool file %s (stored %08x, bytes give %08x): changed on disk",
			ErrBodyUnreadable, ErrBodyChecksum, name, want, c.sum)
	}
	return nil
}

// hashFileRange adds the bytes of f in [from, to) to sum.
func hashFileRange(f *os.File, from, to int64, sum uint32) (uint32, error) {
	if to <= from {
		return sum, nil
	}
	buf := make([]byte, min(to-from, 64<<10))
	for from < to {
		p := buf[:min(int64(len(buf)), to-from)]
		k, err := f.ReadAt(p, from)
		sum = crc32.Update(sum, castagnoli, p[:k])
		from += int64(k)
		if err != nil && from < to {
			if err == io.EOF {
				err = ErrSpoolShort
			}
			return sum, err
		}
	}
	return sum, nil
}

// verifySpool is the check of the bytes held in the database
// (checkHead), checkSpool and, for a summed spool file, the whole
// file read and compared with its checksum: the check of a claim for
// delivery (before any byte goes out), of an export, of a dumpster
// copy's resubmission and of a removal that would discard a sound copy
// elsewhere (Body.Check).
func (b Body) verifySpool() error {
	if err := b.checkHead(); err != nil { // the bytes in the database (bodysum.go)
		return err
	}
	if err := b.checkSpool(); err != nil || !b.Spooled() {
		return err
	}
	name := filepath.Base(b.file)
	if !spoolSummed(name) {
		return nil
	}
	f, err := os.Open(b.file)
	if err != nil {
		return fmt.Errorf("%w: spool file %s: %w", ErrBodyUnreadable, name, err)
	}
	defer f.Close()
	c, err := startSpoolCheck(f, name, b.off, b.n)
	if err != nil {
		return err
	}
	if c.sum, err = hashFileRange(f, b.off, b.off+b.n, c.sum); err != nil {
		return fmt.Errorf("%w: spool file %s: %w", ErrBodyUnreadable, name, err)
	}
	return c.finish(f, name, b.off+b.n)
}

// anyUnreadable reports whether a result says the content could not be
// read (a reader failed during the attempt: its checksum, or a cut).
func anyUnreadable(res []Result) bool {
	for _, r := range res {
		if strings.HasPrefix(r.Reply, unreadablePrefix) {
			return true
		}
	}
	return false
}
