package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"umbra/internal/leftover"
)

// Body is the content of one message. A small one is held in memory; a
// large one lives in a spool file in the data directory (SpoolFile), and
// only a short head is in memory: the content is the head followed by
// the file's bytes from an offset on. The head is where the receiving
// server's edits go (the Received field, the header firewall, the checks'
// header changes), so a spooled file is never rewritten.
//
// A Body is a value: copying it copies the reference, not the file.
// Methods never modify the head in place.
type Body struct {
	head []byte
	file string // absolute path of the spool file; "" when in memory
	off  int64  // where the file's part starts
	n    int64  // length of the file's part

	// The checksum stored with head in the database (bodysum.go), set
	// by BodyOf and DumpsterBodyOf; summed false: none (unchecked, or
	// a body not read from the database).
	sum    uint32
	summed bool
	sumBad bool // the stored checksum is not 4 bytes
	// sumMissing: none stored, but the record says one was
	// (bodySumExpected): unreadable.
	sumMissing bool
}

// MemBody is a body held in memory.
func MemBody(b []byte) Body { return Body{head: b} }

// SpooledBody is head followed by n bytes of the spool file at path,
// from off on.
func SpooledBody(head []byte, path string, off, n int64) Body {
	return Body{head: head, file: path, off: off, n: n}
}

// Len is the length of the content.
func (b Body) Len() int64 { return int64(len(b.head)) + b.n }

// Spooled reports whether part of the content is in a spool file.
func (b Body) Spooled() bool { return b.file != "" }

// Head is the part held in memory: the whole content when the body is
// not spooled.
func (b Body) Head() []byte { return b.head }

// File is the spool file's path, offset and length ("" when in memory).
func (b Body) File() (path string, off, n int64) { return b.file, b.off, b.n }

// Reader streams the whole content: the head, then the file's part. The
// caller closes it. It yields exactly Len bytes or fails: a file cut
// short (before or while it is read) gives an error wrapping
// ErrSpoolShort, never EOF, and bytes past the recorded length are never
// read; every error wraps ErrBodyUnreadable (bodyexact.go).
func (b Body) Reader() (io.ReadCloser, error) {
	if err := b.checkHead(); err != nil { // bodysum.go
		return nil, err
	}
	if b.file == "" {
		return io.NopCloser(bytes.NewReader(b.head)), nil
	}
	f, err := os.Open(b.file)
	if err != nil {
		return nil, fmt.Errorf("%w: spool file %s: %w", ErrBodyUnreadable, filepath.Base(b.file), err)
	}
	r := &bodyReader{head: bytes.NewReader(b.head), f: f, name: filepath.Base(b.file), off: b.off, n: b.n}
	if spoolSummed(r.name) { // checksum.go
		if r.check, err = startSpoolCheck(f, r.name, b.off, b.n); err != nil {
			f.Close()
			return nil, err
		}
	}
	return r, nil
}

// bodyReader is the head, then exactly n bytes of f from off.
type bodyReader struct {
	head *bytes.Reader
	f    *os.File
	name string
	off  int64
	n    int64 // the file part's recorded length
	got  int64 // of the file part, read so far

	check *spoolCheck // the file's checksum (checksum.go); nil: unchecked
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.head.Len() > 0 {
		return r.head.Read(p)
	}
	if r.got >= r.n {
		if r.check != nil { // the end only once the whole file matches its checksum
			if err := r.check.finish(r.f, r.name, r.off+r.n); err != nil {
				return 0, err
			}
			r.check = nil
		}
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if rest := r.n - r.got; int64(len(p)) > rest {
		p = p[:rest]
	}
	k, err := r.f.ReadAt(p, r.off+r.got)
	r.got += int64(k)
	if r.check != nil {
		r.check.sum = crc32.Update(r.check.sum, castagnoli, p[:k])
	}
	switch {
	case err == io.EOF && r.got < r.n:
		return k, fmt.Errorf("%w: %w: %s ended at %d bytes, the record names %d from %d",
			ErrBodyUnreadable, ErrSpoolShort, r.name, r.off+r.got, r.n, r.off)
	case err == io.EOF || err == nil:
		return k, nil // ReadAt's EOF at exactly the end: the next call says EOF
	default:
		return k, fmt.Errorf("%w: spool file %s: %w", ErrBodyUnreadable, r.name, err)
	}
}

func (r *bodyReader) Close() error { return r.f.Close() }

// Bytes is the whole content in memory. Only for consumers whose input is
// small or capped (a DSN's returned headers, the console's preview); the
// delivery path streams with Reader.
func (b Body) Bytes() ([]byte, error) {
	if b.file == "" {
		if err := b.checkHead(); err != nil { // bodysum.go
			return nil, err
		}
		return b.head, nil
	}
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// Read into one buffer of the exact length: bytes.Buffer.ReadFrom
	// would grow it to twice the size to see the end of the file.
	out := make([]byte, b.Len())
	if n, err := io.ReadFull(r, out); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF { // cannot happen with bodyReader; kept exact anyway
			err = fmt.Errorf("%w: %w: %s: %d bytes where %d were stored", ErrBodyUnreadable, ErrSpoolShort, filepath.Base(b.file), n, b.Len())
		}
		return nil, err
	}
	// The end, which a summed file's reader reports only once the whole
	// file matches its checksum (checksum.go).
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("%w: %s: more than the %d bytes stored", ErrBodyUnreadable, filepath.Base(b.file), b.Len())
		}
		return nil, err
	}
	return out, nil
}

// WithHead is head followed by the content of b from byte skip on: the
// way a receiving server replaces the start of a message (its header
// section, with edits) without touching the spool file.
func (b Body) WithHead(head []byte, skip int64) (Body, error) {
	if skip < 0 || skip > b.Len() {
		return Body{}, fmt.Errorf("body: skip %d outside %d bytes", skip, b.Len())
	}
	if b.file == "" {
		out := make([]byte, 0, len(head)+len(b.head)-int(skip))
		out = append(append(out, head...), b.head[skip:]...)
		return MemBody(out), nil
	}
	if skip == int64(len(head)) && skip <= int64(len(b.head)) && (skip == 0 || &head[0] == &b.head[0]) {
		return b, nil // head is b's own start (a header section read from it): nothing to copy
	}
	if skip <= int64(len(b.head)) {
		rest := b.head[skip:]
		h := make([]byte, 0, len(head)+len(rest))
		h = append(append(h, head...), rest...)
		return Body{head: h, file: b.file, off: b.off, n: b.n}, nil
	}
	d := skip - int64(len(b.head))
	return Body{head: bytes.Clone(head), file: b.file, off: b.off + d, n: b.n - d}, nil
}

// spoolDirName is the directory next to queue.db that holds spool files.
const spoolDirName = leftover.SpoolDir

// SpoolFile is a spool file being written: a session's body as it is
// read. Finish makes it durable (the file's data, then the directory
// entry) and returns it as a Body; only then may a commit name it. Abort
// removes it. A file no record names is removed when the store opens.
type SpoolFile struct {
	f      *os.File
	path   string
	dir    string
	n      int64
	sum    uint32 // CRC-32C of the bytes written (checksum.go)
	noSync bool
	err    error
}

// NewSpool creates an empty spool file in the store's spool directory.
func (s *Store) NewSpool() (*SpoolFile, error) {
	if s.spoolDir == "" {
		return nil, errors.New("transport database has no spool directory")
	}
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	path := filepath.Join(s.spoolDir, summedSpoolPrefix+hex.EncodeToString(r[:])) // checksum.go
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool file: %w", err)
	}
	return &SpoolFile{f: f, path: path, dir: s.spoolDir, noSync: s.noSync}, nil
}

// Write appends p. After an error every later call fails with it.
func (w *SpoolFile) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	w.sum = crc32.Update(w.sum, castagnoli, p[:n])
	if err != nil {
		w.err = fmt.Errorf("spool file: %w", err)
	}
	return n, w.err
}

// Len is how many bytes were written.
func (w *SpoolFile) Len() int64 { return w.n }

// Finish syncs the file's data and the directory entry, closes the file
// and returns its content as a Body.
func (w *SpoolFile) Finish() (Body, error) {
	if w.err == nil { // the checksum of every byte, written before the sync (checksum.go)
		if _, err := w.f.Write(binary.BigEndian.AppendUint32(nil, w.sum)); err != nil {
			w.err = fmt.Errorf("spool file: %w", err)
		}
	}
	if w.err != nil {
		w.Abort()
		return Body{}, w.err
	}
	if !w.noSync {
		if err := w.f.Sync(); err != nil {
			w.Abort()
			return Body{}, fmt.Errorf("spool file: %w", err)
		}
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.path)
		return Body{}, fmt.Errorf("spool file: %w", err)
	}
	if !w.noSync {
		if err := syncDir(w.dir); err != nil {
			os.Remove(w.path)
			return Body{}, fmt.Errorf("spool directory: %w", err)
		}
	}
	return SpooledBody(nil, w.path, 0, w.n), nil
}

// Abort closes and removes the file. It may be called more than once.
func (w *SpoolFile) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.path)
		w.f = nil
	}
}

// removeSpool removes a spool file no record names any more.
func removeSpool(path string) { os.Remove(path) }

// openSpoolDir creates (and syncs into its parent) the spool directory
// next to the database file. A symlink or anything else that is not a
// directory in its place is refused, never followed: Open removes every
// file in the spool directory that no record names (sweepSpool), which
// through a symlink would be another directory's files.
func openSpoolDir(dbPath string) (string, error) {
	parent := filepath.Dir(dbPath)
	dir := filepath.Join(parent, spoolDirName)
	if fi, err := os.Lstat(dir); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("%s is %s, not a directory: umbra does not follow it (its start removes the files "+
				"in the spool directory no message names); move it aside", dir, fileKind(fi.Mode()))
		}
		return dir, nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	return dir, syncDir(parent)
}
