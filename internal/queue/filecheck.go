package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
)

// The layout of a bbolt file's meta pages (go.etcd.io/bbolt,
// internal/common): pages 0 and 1 each begin with a 16-byte page header
// and hold the meta record below, in the machine's byte order; the
// checksum is FNV-64a of the record's bytes before it. bbolt uses the
// meta with the higher transaction id of those that are valid.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltPageHeader  = 16
	boltMetaSize    = 64 // magic, version, page size, flags, root (pgid, sequence), freelist, pgid, txid, checksum
	boltMetaSummed  = 56 // the bytes the checksum covers
	boltNoFreelist  = ^uint64(0)
	boltFirstPages  = 4 // two meta pages, the free list and the root: an empty database
	boltMinPageSize = 1024
)

type boltMeta struct {
	pageSize uint32
	root     uint64 // page of the root bucket
	freelist uint64 // page of the free list (boltNoFreelist: not written)
	pgid     uint64 // the file's high-water mark: pages 0..pgid-1 are in use or free
	txid     uint64
}

// errNoDatabaseFile is checkBoltFile's answer for what cannot be a
// database file at all: not a regular file, or empty.
var errNoDatabaseFile = errors.New("not a database")

// ErrTruncated is the damage checkBoltFile finds in a file shorter than
// the pages its meta page says it holds.
var ErrTruncated = errors.New("truncated")

// checkBoltFile checks the database file at path against what its meta
// pages claim, with ordinary reads, before bbolt maps it: a page bbolt
// reads through the mapping beyond the file's end faults (SIGBUS), a
// crash no error path can answer, and a truncated file can also read as
// sound when the pages cut off are free ones. It returns nil for a file
// whose valid meta page (the one bbolt would use) is in a file long
// enough for every page that meta names, and otherwise says what is
// wrong: not a database at all, neither meta page valid, or truncated
// (ErrTruncated). An empty file is not a database either; callers that
// create the file check it only when it has bytes.
func checkBoltFile(path string) error {
	_, err := checkedMeta(path)
	return err
}

// checkedMeta is checkBoltFile that also returns the meta page bbolt
// would use (pagewalk.go walks the pages it names).
func checkedMeta(path string) (boltMeta, error) {
	// The kind of file before it is opened: opening a FIFO waits for a
	// writer, forever.
	fi, err := os.Stat(path)
	if err != nil {
		return boltMeta{}, err
	}
	if !fi.Mode().IsRegular() {
		return boltMeta{}, fmt.Errorf("%w: %s, not a regular file", errNoDatabaseFile, fileKind(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return boltMeta{}, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return boltMeta{}, err
	}
	if !fi.Mode().IsRegular() { // replaced in between
		return boltMeta{}, fmt.Errorf("%w: %s, not a regular file", errNoDatabaseFile, fileKind(fi.Mode()))
	}
	size := fi.Size()
	if size == 0 {
		return boltMeta{}, fmt.Errorf("%w: an empty file", errNoDatabaseFile)
	}
	read := func(off int64) (boltMeta, bool) {
		buf := make([]byte, boltPageHeader+boltMetaSize)
		if n, _ := f.ReadAt(buf, off); n < len(buf) {
			return boltMeta{}, false
		}
		m := buf[boltPageHeader:]
		bo := binary.NativeEndian
		if bo.Uint32(m[0:]) != boltMagic || bo.Uint32(m[4:]) != boltVersion {
			return boltMeta{}, false
		}
		h := fnv.New64a()
		h.Write(m[:boltMetaSummed])
		if h.Sum64() != bo.Uint64(m[boltMetaSummed:]) {
			return boltMeta{}, false
		}
		return boltMeta{pageSize: bo.Uint32(m[8:]), root: bo.Uint64(m[16:]), freelist: bo.Uint64(m[32:]),
			pgid: bo.Uint64(m[40:]), txid: bo.Uint64(m[48:])}, true
	}
	// Page 0 gives the page size; when it is not valid, page 1 is
	// looked for where each page size bbolt supports puts it, as bbolt
	// does.
	m0, ok0 := read(0)
	var m1 boltMeta
	var ok1 bool
	if ok0 {
		m1, ok1 = read(int64(m0.pageSize))
	} else {
		for ps := int64(boltMinPageSize); ps <= 16<<20 && ps < size; ps <<= 1 {
			if m1, ok1 = read(ps); ok1 && int64(m1.pageSize) == ps {
				break
			}
			ok1 = false
		}
	}
	var m boltMeta
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case ok0:
		m = m0
	default:
		if size < boltPageHeader+boltMetaSize {
			return boltMeta{}, fmt.Errorf("%w: a file of %d bytes (shorter than a database's first page)", errNoDatabaseFile, size)
		}
		// No database's mark where its first page begins: some other
		// file (a configuration, a log), not a database whose pages
		// were damaged — said so, not "damaged".
		magic := make([]byte, 4)
		if n, _ := f.ReadAt(magic, boltPageHeader); n == 4 && binary.NativeEndian.Uint32(magic) != boltMagic {
			return boltMeta{}, fmt.Errorf("%w: it does not begin as a database file does (neither meta page is valid; or its first page was overwritten)", errNoDatabaseFile)
		}
		return boltMeta{}, errors.New("neither meta page is valid: not a database, or its first pages were overwritten")
	}
	if m.pageSize < boltMinPageSize || m.pageSize&(m.pageSize-1) != 0 || m.pageSize > 16<<20 {
		return boltMeta{}, fmt.Errorf("its meta page claims a page size of %d bytes", m.pageSize)
	}
	if m.pgid < boltFirstPages || m.root < 2 || m.root >= m.pgid || m.freelist != boltNoFreelist && (m.freelist < 2 || m.freelist >= m.pgid) {
		return boltMeta{}, fmt.Errorf("its meta page names pages outside the file (root %d, free list %d, high-water mark %d)", m.root, m.freelist, m.pgid)
	}
	if want := int64(m.pgid) * int64(m.pageSize); size < want {
		return boltMeta{}, fmt.Errorf("%w: a file of %d bytes, and its meta page (transaction %d) says it holds %d pages of %d bytes "+
			"(%d bytes): a copy cut short, or a file that lost its end", ErrTruncated, size, m.txid, m.pgid, m.pageSize, want)
	}
	return m, nil
}
