package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Records that name spool files (body.go). A spooled body is stored as
// its head in the body bucket (bodies, or dumpbodies for a dumpster
// copy) plus a reference in bucket spooled: the spool file's name (never
// an absolute path: a moved data directory still works), the offset and
// the length of its part. Bucket spoolfiles counts, per file, the
// references to it; the commit that adds a reference adds one, the
// commit that drops one subtracts one, and the commit that drops the
// last deletes the count. The file itself is removed only after that
// commit is durable (Tx.unlink, run by the commit's leader), so a crash
// between the two leaves a file no count names: garbage, removed by
// sweepSpool when the store opens, before anything is served.
//
// Small bodies never take this path: they stay whole in the body
// bucket, as before (one Put, no file).

// Reference kinds: the first byte of a spooled key.
const (
	refMessage  = 'm' // ‖ ID (8, BE): a queued message's body
	refDumpster = 'd' // ‖ dumpster key: a dumpster copy's body
)

func refKey(kind byte, key []byte) []byte {
	return append([]byte{kind}, key...)
}

// encodeRef is off (8, BE) ‖ n (8, BE) ‖ file name.
func encodeRef(name string, off, n int64) []byte {
	v := make([]byte, 16, 16+len(name))
	binary.BigEndian.PutUint64(v, uint64(off))
	binary.BigEndian.PutUint64(v[8:], uint64(n))
	return append(v, name...)
}

func decodeRef(v []byte) (name string, off, n int64, ok bool) {
	if len(v) <= 16 {
		return "", 0, 0, false
	}
	name = string(v[16:])
	off, n = int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
	if off < 0 || n < 0 || !validSpoolName(name) {
		return "", 0, 0, false
	}
	return name, off, n, true
}

// validSpoolName accepts the names NewSpool makes: no separators, no dot
// files, so a damaged record cannot name a file outside the spool
// directory.
func validSpoolName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// spoolName is the name, in this store's spool directory, of the file a
// body refers to. A body whose file is elsewhere is refused: the store
// only counts references to its own files.
func (t *Tx) spoolName(b Body) (string, error) {
	path, _, _ := b.File()
	if t.spoolDir == "" {
		return "", fmt.Errorf("transport database has no spool directory")
	}
	dir, name := filepath.Split(path)
	if filepath.Clean(dir) != filepath.Clean(t.spoolDir) || !validSpoolName(name) {
		return "", fmt.Errorf("spool file %s is not in the spool directory %s", path, t.spoolDir)
	}
	return name, nil
}

// putBody stores b under key in the body bucket bodies: whole when in
// memory, as head and reference when spooled. An earlier body under the
// same key is replaced (its reference dropped).
func (t *Tx) putBody(bodies *bolt.Bucket, kind byte, key []byte, b Body) error {
	if err := t.dropRef(kind, key); err != nil {
		return err
	}
	if !b.Spooled() {
		if err := putBodyValue(bodies, kind, key, b.Head()); err != nil { // bodyalone.go
			return fmt.Errorf("storing a body (%d bytes): %w", len(b.Head()), err)
		}
		return nil
	}
	name, err := t.spoolName(b)
	if err != nil {
		return err
	}
	_, off, n := b.File()
	if err := putBodyValue(bodies, kind, key, b.Head()); err != nil {
		return fmt.Errorf("storing the header section (%d bytes) of a body spooled to %s: %w", len(b.Head()), name, err)
	}
	if err := t.tx.Bucket(bucketSpooled).Put(refKey(kind, key), encodeRef(name, off, n)); err != nil {
		return err
	}
	return t.addSpoolCount(name, +1)
}

// getBody reads back what putBody stored, with its checksum, without
// reading the file.
func (t *Tx) getBody(bodies *bolt.Bucket, kind byte, key []byte) (Body, error) {
	head := bodyValue(bodies, key)
	ref := t.tx.Bucket(bucketSpooled).Get(refKey(kind, key))
	var b Body
	if ref == nil {
		if head == nil {
			return Body{}, ErrNotFound
		}
		b = MemBody(bytes.Clone(head))
	} else {
		name, off, n, ok := decodeRef(ref)
		if !ok {
			return Body{}, fmt.Errorf("%w: spool reference %x", errCorrupt, ref)
		}
		b = SpooledBody(bytes.Clone(head), filepath.Join(t.spoolDir, name), off, n)
	}
	// Its checksum, which every reader of the content checks (bodysum.go).
	b.sum, b.summed, b.sumBad = storedBodySum(t.tx, kind, key)
	b.sumMissing = !b.summed && bodySumExpected(t.tx, kind, key)
	return b, nil
}

// bodyLen is the stored body's length without reading the file.
func (t *Tx) bodyLen(bodies *bolt.Bucket, kind byte, key []byte) int64 {
	n := int64(len(bodyValue(bodies, key)))
	if ref := t.tx.Bucket(bucketSpooled).Get(refKey(kind, key)); ref != nil {
		if _, _, fn, ok := decodeRef(ref); ok {
			n += fn
		}
	}
	return n
}

// dropRef removes key's reference, if any, and its count.
func (t *Tx) dropRef(kind byte, key []byte) error {
	b := t.tx.Bucket(bucketSpooled)
	rk := refKey(kind, key)
	ref := b.Get(rk)
	if ref == nil {
		return nil
	}
	name, _, _, ok := decodeRef(ref)
	if err := b.Delete(rk); err != nil {
		return err
	}
	if !ok {
		return nil // a damaged reference counts nothing; the sweep takes its file
	}
	return t.addSpoolCount(name, -1)
}

// addSpoolCount changes a file's reference count; at zero the count is
// deleted and the file removed once this commit is durable.
func (t *Tx) addSpoolCount(name string, d int64) error {
	b := t.tx.Bucket(bucketSpoolFiles)
	var n int64
	if v := b.Get([]byte(name)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += d
	if n <= 0 {
		t.unlink = append(t.unlink, name)
		return b.Delete([]byte(name))
	}
	// Counted again in the transaction that dropped its last reference
	// (a move in the order drop, then add): the file stays.
	t.unlink = slices.DeleteFunc(t.unlink, func(u string) bool { return u == name })
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return b.Put([]byte(name), v[:])
}

// SpoolRefs is the number of records naming the spool file of b (0 for
// a body in memory): for tests and the operator's tools.
func (t *Tx) SpoolRefs(b Body) int64 {
	if !b.Spooled() {
		return 0
	}
	name, err := t.spoolName(b)
	if err != nil {
		return 0
	}
	if v := t.tx.Bucket(bucketSpoolFiles).Get([]byte(name)); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// PutNewBody is PutNew for a body that may be spooled: the record names
// the spool file, which must have been made durable (SpoolFile.Finish)
// before this commit. Several records may name one file (a dumpster
// copy, an operator's copy): each adds to its count.
func (t *Tx) PutNewBody(m *Message, body Body) error {
	if !body.Spooled() {
		return t.PutNew(m, body.Head())
	}
	if len(m.Rcpts) == 0 {
		return ErrNoRecipients
	}
	if err := t.PutNew(m, nil); err != nil { // the record, indexes and org id
		return err
	}
	return t.putBody(t.bodies, refMessage, m.ID.Key(), body)
}

// BodyOf returns the message's content as a Body without reading a
// spool file: the scheduler's load, and the source of copies.
func (t *Tx) BodyOf(id ID) (Body, error) {
	return t.getBody(t.bodies, refMessage, id.Key())
}

// DumpsterPutBody is DumpsterPut for a body that may be spooled: the
// copy names the same spool file as the message (one more reference),
// in the commit of the delivery.
func (t *Tx) DumpsterPutBody(k DumpsterKey, m *Message, body Body) error {
	if !body.Spooled() {
		return t.DumpsterPut(k, m, body.Head())
	}
	kb := k.bytes()
	if err := t.DumpsterPut(k, m, body.Head()); err != nil {
		return err
	}
	if err := t.putBody(t.tx.Bucket(bucketDumpBody), refDumpster, kb, body); err != nil {
		return err
	}
	_, _, n := body.File()
	return t.addDumpsterStat(k.Database, 0, n)
}

// DumpsterBodyOf returns a dumpster copy's content as a Body without
// reading a spool file.
func (t *Tx) DumpsterBodyOf(k DumpsterKey) (Body, error) {
	return t.getBody(t.tx.Bucket(bucketDumpBody), refDumpster, k.bytes())
}

// sweepSpool removes the spool files no record counts — bodies whose
// session ended without a commit, or files whose last reference was
// dropped by a commit a crash interrupted before the removal — and
// reports references whose file is missing. Open runs it before it
// returns the store, so no session is writing a spool file.
func (s *Store) sweepSpool() (removed int, missing []string, err error) {
	entries, err := os.ReadDir(s.spoolDir)
	if err != nil {
		return 0, nil, err
	}
	err = s.db.View(func(btx *bolt.Tx) error {
		counted := btx.Bucket(bucketSpoolFiles)
		present := map[string]bool{}
		for _, e := range entries {
			present[e.Name()] = true
			if counted.Get([]byte(e.Name())) != nil {
				continue
			}
			if os.Remove(filepath.Join(s.spoolDir, e.Name())) == nil {
				removed++
			}
		}
		return counted.ForEach(func(k, _ []byte) error {
			if !present[string(k)] {
				missing = append(missing, string(k))
			}
			return nil
		})
	})
	if removed > 0 && !s.noSync {
		if err := syncDir(s.spoolDir); err != nil {
			return removed, missing, err
		}
	}
	return removed, missing, err
}

// unlinkSpool removes the files whose last reference a durable commit
// dropped. A failure is logged, counted and kept for a retry
// (spoolstats.go: RetrySpoolUnlinks); Open's sweep removes what is left.
func (s *Store) unlinkSpool(names []string) {
	if len(names) == 0 {
		return
	}
	s.unlinkMu.Lock()
	defer s.unlinkMu.Unlock()
	for _, n := range names {
		s.removeSpoolFile(n)
	}
}

// SpoolSwept is how many spool files Open removed because no record
// named them: bodies of sessions that ended before their commit (no 250
// was given for them), or files whose last reference a commit dropped
// before a crash cut their removal. The start logs it, as it logs every
// file it deletes.
func (s *Store) SpoolSwept() int { return s.sweptSpool }

// MissingSpool lists the spool files that records named but Open did
// not find (a data directory copied without its spool directory): their
// messages fail to load and are held as poison with the reason, never
// delivered truncated.
func (s *Store) MissingSpool() []string { return s.missingSpool }

// moveRef moves a reference from one key to another (a dumpster copy
// re-keyed): the count does not change.
func (t *Tx) moveRef(kind byte, old, nk []byte) error {
	b := t.tx.Bucket(bucketSpooled)
	v := bytes.Clone(b.Get(refKey(kind, old)))
	if v == nil {
		return nil
	}
	if err := b.Delete(refKey(kind, old)); err != nil {
		return err
	}
	return b.Put(refKey(kind, nk), v)
}

// BodyDeliverer is a Deliverer that takes the body as a Body and
// streams a spooled one from its file (package delivery); the scheduler
// prefers it. A Deliverer without it gets the content whole.
type BodyDeliverer interface {
	DeliverBody(ctx context.Context, m *Message, body Body, rcpts []int) []Result
}

// unreadable defers rcpts: the body's file could not be read.
func unreadable(m *Message, rcpts []int, err error) []Result {
	out := make([]Result, 0, len(rcpts))
	for _, i := range rcpts {
		out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: queueOf(&m.Rcpts[i]),
			Reply: UnreadableReply(err)})
	}
	return out
}

// spoolMaxHeaderRead bounds the header section read from a spooled body for
// a decision on its fields (a copy's Received count, a DSN's returned
// headers).
const spoolMaxHeaderRead = 1 << 20

// ReadHeaderSection is the header section of the content, with the blank line that
// ends it, at most max bytes: from the head alone when it holds the
// whole section (the receiving server keeps the header section there),
// else read from the file.
func (b Body) ReadHeaderSection(max int) ([]byte, error) {
	if i := bytes.Index(b.head, []byte("\r\n\r\n")); i >= 0 && i+4 <= max {
		return b.head[:i+4], nil
	}
	if !b.Spooled() || int64(len(b.head)) >= int64(max) {
		h := b.head
		if i := bytes.Index(h, []byte("\r\n\r\n")); i >= 0 {
			h = h[:i+4]
		}
		return h[:min(len(h), max)], nil
	}
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, 0, 64<<10)
	chunk := make([]byte, 32<<10)
	for len(buf) < max {
		n, err := r.Read(chunk[:min(len(chunk), max-len(buf))])
		buf = append(buf, chunk[:n]...)
		if i := bytes.Index(buf[spoolMax0(len(buf)-n-3):], []byte("\r\n\r\n")); i >= 0 {
			return buf[:spoolMax0(len(buf)-n-3)+i+4], nil
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("spool file: %w", err)
		}
	}
	return buf, nil
}

func spoolMax0(n int) int { return max(n, 0) }

// checkSpool reports a spooled body whose file is missing or shorter than
// its reference (with its checksum after it, for a file that carries
// one): a message never goes out truncated. It reads no content: the
// start check of every spooled body (spoolcheck.go).
func (b Body) checkSpool() error {
	if !b.Spooled() {
		return nil
	}
	fi, err := os.Stat(b.file)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: spool file %s missing", ErrBodyUnreadable, filepath.Base(b.file))
	}
	if err != nil {
		return fmt.Errorf("%w: spool file: %w", ErrBodyUnreadable, err)
	}
	if fi.Size() < b.off+b.n {
		return fmt.Errorf("%w: %w: %s: %d bytes, the record names %d from %d", ErrBodyUnreadable, ErrSpoolShort, filepath.Base(b.file), fi.Size(), b.n, b.off)
	}
	if name := filepath.Base(b.file); spoolSummed(name) && fi.Size() < b.off+b.n+spoolSumLen { // checksum.go
		return fmt.Errorf("%w: %w: %s: %d bytes, the record names %d from %d and its checksum after them",
			ErrBodyUnreadable, ErrSpoolShort, name, fi.Size(), b.n, b.off)
	}
	return nil
}

// BodyOf returns a message's stored content as a Body: the operator's
// export streams it (Reader), a preview reads its header section
// (Header), and neither holds a spooled file's content in memory.
func (q *Manager) BodyOf(id ID) (Body, error) {
	var b Body
	err := q.store.View(func(tx *Tx) error {
		var err error
		b, err = tx.BodyOf(id)
		return err
	})
	return b, err
}

// setSpoolAside moves a non-empty spool directory aside as
// spool.replaced-TIME when the database was just made or restored: its
// files are the replaced database's bodies (that database is kept as
// queue.db.replaced-TIME or moved aside by the operator), not garbage
// of this one. An empty directory stays.
func (s *Store) setSpoolAside() (string, error) {
	ents, err := os.ReadDir(s.spoolDir)
	if err != nil || len(ents) == 0 {
		return s.spoolDir, err
	}
	// A restore killed after its rename named the suffix of the
	// database it replaced: its spool directory takes the same one.
	data := filepath.Dir(s.spoolDir)
	aside := filepath.Join(data, freeSpoolAside(func(name string) bool {
		_, err := os.Lstat(filepath.Join(data, name))
		return err == nil
	}, readAsideSuffix(s.db.Path())))
	if err := os.Rename(s.spoolDir, aside); err != nil {
		return s.spoolDir, err
	}
	if err := os.Mkdir(s.spoolDir, 0o700); err != nil {
		return s.spoolDir, err
	}
	if s.created && s.restoredFrom == "" {
		// No restore: queue.db was missing (removed, moved aside as
		// damaged) and this Open made a new database beside the spool
		// files of the one that is gone (lifert39 F2).
		s.goneSpool = GoneSpool{Dir: aside, Files: len(ents)}
	} else {
		s.finished = append(s.finished, "the replaced spool directory moved aside as "+aside)
	}
	return s.spoolDir, syncDir(filepath.Dir(s.spoolDir))
}

// GoneSpool is the spool directory of a database that is gone, which a
// new database found beside it and moved aside (Store.SpoolOfGoneDatabase).
type GoneSpool struct {
	Dir   string // where it was moved: spool.replaced-TIME
	Files int    // the spool files it holds
}

// SpoolOfGoneDatabase is the spool directory Open moved aside because it
// made a new database beside it (queue.db was missing), no restore
// having run: its files are bodies of mail the gone database held, not
// queued in this one. Zero when there was none.
func (s *Store) SpoolOfGoneDatabase() GoneSpool { return s.goneSpool }
