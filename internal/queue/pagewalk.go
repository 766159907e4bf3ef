package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Naming what is damaged in a database file (rt45 F5).
//
// bbolt reads its pages through the mapping and trusts them: an
// element header overwritten sends it past the page's end, and what
// reaches the operator is a Go runtime panic's text (slice bounds out
// of range, nil pointer dereference), recovered into an error by Open,
// VerifyBackup and the restore's checks. describeDamage walks the same
// tree with ordinary reads and bounds on every offset, and names the
// first page that is not what its parent says: its number, the bucket
// it belongs to, the key before it, and what is wrong. The recovered
// panic is then reported as that, with the panic's text after it.
//
// The same walk runs before bbolt opens a file for writing (checkPageTree):
// such an open rebuilds the free list by walking every page, and bbolt
// reports what that walk finds wrong (a key out of order, a page reached
// twice, a page past the end) by a panic in a goroutine of its own,
// which no recover reaches: the process dies with bbolt's text. So the
// walk also checks what bbolt's does — on every page (not inline ones,
// which bbolt does not check either), keys in strictly rising order and
// within the range of the branch element that leads to the page — and
// the file is refused, naming the page, before bbolt sees it.
// Page layout (go.etcd.io/bbolt internal/common), in the machine's byte
// order: a 16-byte header (id 8, flags 2, count 2, overflow 4), then
// count element headers of 16 bytes — a branch's pos 4, ksize 4, pgid
// 8; a leaf's flags 4, pos 4, ksize 4, vsize 4 — each pos counted from
// its own header. A leaf value flagged a bucket begins with the
// bucket's root page (8) and sequence (8); root 0: an inline page
// follows in the value.
const (
	pageBranch     = 0x01
	pageLeaf       = 0x02
	elemSize       = 16
	leafBucketFlag = 0x01
	maxWalkDepth   = 64
)

// pageWalk reads pages of one file.
type pageWalk struct {
	f     *os.File
	meta  boltMeta
	seen  map[uint64]bool
	pages int
}

// describeDamage names the first damaged page reachable from the root of
// the database at path, or says none was found ("").
func describeDamage(path string) string {
	m, err := checkedMeta(path)
	if err != nil {
		return err.Error()
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	w := &pageWalk{f: f, meta: m, seen: map[uint64]bool{}}
	return w.bucket(m.root, nil, nil, 0)
}

// errPageTree is a file whose page tree describeDamage found damaged.
var errPageTree = errors.New("its pages are damaged")

// checkPageTree is checkBoltFile and then the page walk, for a file
// bbolt is about to open for writing (see above): nil for a sound tree,
// else an error naming the first damaged page.
func checkPageTree(path string) error {
	if err := checkBoltFile(path); err != nil {
		return err
	}
	if d := describeDamage(path); d != "" {
		return fmt.Errorf("%w: %s", errPageTree, d)
	}
	return nil
}

// where names a place in the tree for the operator.
func where(path []string, after []byte) string {
	s := "the root bucket"
	if len(path) > 0 {
		s = fmt.Sprintf("bucket %q", strings.Join(path, "/"))
	}
	if after != nil {
		s += fmt.Sprintf(", keys from %s", shownKey(path, after))
	}
	return s
}

// shownKey is a key as an operator reads it: a message id for the
// 8-byte keys of the message buckets, a bucket's name (quoted) for the
// keys of the root, whose names umbra chose, else hex.
func shownKey(path []string, k []byte) string {
	if len(k) == 8 && len(path) == 1 && (path[0] == string(bucketMessages) || path[0] == string(bucketBodies) || path[0] == string(bucketDamaged)) {
		return "message " + ID(binary.BigEndian.Uint64(k)).String()
	}
	if len(path) == 0 && len(k) > 0 && bytes.IndexFunc(k, func(r rune) bool { return r < 'a' || r > 'z' }) < 0 {
		return fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("%x", k)
}

// read returns page id (with its overflow pages), or why it cannot.
func (w *pageWalk) read(id uint64) ([]byte, string) {
	ps := int64(w.meta.pageSize)
	if id < 2 || id >= w.meta.pgid {
		return nil, fmt.Sprintf("names page %d, outside the file's %d pages", id, w.meta.pgid)
	}
	head := make([]byte, ps)
	if n, _ := w.f.ReadAt(head, int64(id)*ps); n < len(head) {
		return nil, fmt.Sprintf("names page %d, beyond the file's end", id)
	}
	bo := binary.NativeEndian
	if got := bo.Uint64(head); got != id {
		return nil, fmt.Sprintf("page %d says it is page %d: overwritten", id, got)
	}
	over := uint64(bo.Uint32(head[12:]))
	if id+over >= w.meta.pgid {
		return nil, fmt.Sprintf("page %d claims %d overflow pages, past the file's %d pages", id, over, w.meta.pgid)
	}
	if over == 0 {
		return head, ""
	}
	buf := make([]byte, int64(over+1)*ps)
	if n, _ := w.f.ReadAt(buf, int64(id)*ps); n < len(buf) {
		return nil, fmt.Sprintf("page %d and its %d overflow pages run beyond the file's end", id, over)
	}
	return buf, ""
}

// bucket walks the bucket whose root is page root (0: inline, in
// inline), named path, reached after key after in its parent.
func (w *pageWalk) bucket(root uint64, inline []byte, path []string, depth int) string {
	if depth > maxWalkDepth {
		return fmt.Sprintf("%s: buckets nested deeper than %d", where(path, nil), maxWalkDepth)
	}
	if root == 0 {
		_, why := w.node(inline, 0, path, nil, nil, depth)
		return why
	}
	_, why := w.page(root, path, nil, nil, depth)
	return why
}

// page walks page id of the bucket path, whose keys are at least after
// and below before (nil: no bound), as its parent's branch elements
// say. It returns the last key under it.
func (w *pageWalk) page(id uint64, path []string, after, before []byte, depth int) ([]byte, string) {
	if w.seen[id] {
		return nil, fmt.Sprintf("page %d (%s) is reached twice: its parent was overwritten", id, where(path, after))
	}
	w.seen[id] = true
	if w.pages++; w.pages > 1<<24 {
		return nil, ""
	}
	b, why := w.read(id)
	if why != "" {
		return nil, fmt.Sprintf("%s: %s", where(path, after), why)
	}
	return w.node(b, id, path, after, before, depth)
}

// orderWhy says what is wrong with the order of key, element i (from 0)
// of count on a page whose keys must be at least min (nil: no bound)
// — after the first, above the key before it (min then) — and below
// before (nil: no bound); "" when nothing is.
func orderWhy(path []string, i, count int, key, min, before []byte) string {
	switch {
	case i == 0 && min != nil && bytes.Compare(key, min) < 0:
		return fmt.Sprintf("key 1 of %d (%s) sorts before the key its parent page leads to it by (%s)",
			count, shownKey(path, key), shownKey(path, min))
	case i > 0 && bytes.Compare(key, min) <= 0:
		return fmt.Sprintf("key %d of %d (%s) does not sort after the key before it (%s)",
			i+1, count, shownKey(path, key), shownKey(path, min))
	case before != nil && bytes.Compare(key, before) >= 0:
		return fmt.Sprintf("key %d of %d (%s) does not sort before the key its parent page leads to the next page by (%s)",
			i+1, count, shownKey(path, key), shownKey(path, before))
	}
	return ""
}

// node checks the page (or inline page) b, page number id (0: inline),
// whose keys are at least after and below before (pages only), and
// walks what it names. It returns the last key under it.
func (w *pageWalk) node(b []byte, id uint64, path []string, after, before []byte, depth int) ([]byte, string) {
	name := fmt.Sprintf("page %d", id)
	if id == 0 {
		name = "the inline page"
	}
	name += " (" + where(path, after) + ")"
	if len(b) < boltPageHeader {
		return nil, name + ": shorter than a page header"
	}
	bo := binary.NativeEndian
	flags, count := bo.Uint16(b[8:]), int(bo.Uint16(b[10:]))
	if flags != pageBranch && flags != pageLeaf {
		return nil, fmt.Sprintf("%s: page type %#x, not a branch or leaf page: overwritten", name, flags)
	}
	if boltPageHeader+count*elemSize > len(b) {
		return nil, fmt.Sprintf("%s: %d elements do not fit in its %d bytes", name, count, len(b))
	}
	var prev, last []byte
	min := after // the running lower bound (bbolt's key-order check)
	for i := 0; i < count; i++ {
		e := boltPageHeader + i*elemSize
		var pos, ksize, vsize uint64
		var child, eflags uint64
		if flags == pageBranch {
			pos, ksize, child = uint64(bo.Uint32(b[e:])), uint64(bo.Uint32(b[e+4:])), bo.Uint64(b[e+8:])
		} else {
			eflags, pos, ksize, vsize = uint64(bo.Uint32(b[e:])), uint64(bo.Uint32(b[e+4:])), uint64(bo.Uint32(b[e+8:])), uint64(bo.Uint32(b[e+12:]))
		}
		start := uint64(e) + pos
		if start+ksize+vsize > uint64(len(b)) {
			at := "after the first element"
			if prev != nil {
				at = "after key " + shownKey(path, prev)
			}
			if i == 0 {
				at = "its first element"
			}
			return nil, fmt.Sprintf("%s: element %d of %d (%s) runs past the page's end (offset %d, key %d bytes, value %d bytes, page %d bytes): its element headers were overwritten",
				name, i+1, count, at, start, ksize, vsize, len(b))
		}
		key := b[start : start+ksize]
		if id != 0 {
			if why := orderWhy(path, i, count, key, min, before); why != "" {
				return nil, fmt.Sprintf("%s: keys out of order: %s: its keys were overwritten", name, why)
			}
		}
		last, min = key, key
		switch {
		case flags == pageBranch:
			next := before
			if i+1 < count {
				next = w.branchKey(b, i+1)
			}
			sub, why := w.page(child, path, key, next, depth)
			if why != "" {
				return nil, why
			}
			last, min = sub, sub
		case eflags&leafBucketFlag == 0 && len(path) == 0:
			// The root holds buckets only (bbolt writes no value
			// there): an entry without the bucket flag is one whose
			// element was overwritten, and every reader of that bucket
			// would meet no bucket (rt41 F7: a nil dereference).
			return nil, fmt.Sprintf("%s: the entry %s is not marked as a bucket, and the root holds only buckets: its element's flags were overwritten", name, shownKey(path, key))
		case eflags&leafBucketFlag != 0:
			v := b[start+ksize : start+ksize+vsize]
			if len(v) < 16 {
				return nil, fmt.Sprintf("%s: the bucket %q has a header of %d bytes", name, key, len(v))
			}
			if why := w.bucket(bo.Uint64(v), v[16:], append(append([]string{}, path...), string(key)), depth+1); why != "" {
				return nil, why
			}
		}
		prev = key
	}
	return last, ""
}

// branchKey is the key of element i of the branch page b, nil when its
// header sends it past the page's end (the walk names that when it
// reaches the element).
func (w *pageWalk) branchKey(b []byte, i int) []byte {
	bo := binary.NativeEndian
	e := boltPageHeader + i*elemSize
	if e+elemSize > len(b) {
		return nil
	}
	start, ksize := uint64(e)+uint64(bo.Uint32(b[e:])), uint64(bo.Uint32(b[e+4:]))
	if start+ksize > uint64(len(b)) {
		return nil
	}
	return b[start : start+ksize]
}

// damageText is what an operator is told of a panic r met reading the
// database at path: the damage describeDamage names, in umbra's words,
// or when the walk found nothing, that a page the walk does not reach
// (the free page list) or a value's bytes are damaged. The panic's own
// words (a Go runtime error) are no reason an operator can act on
// (rt41 F7): they go to the debug log only.
func damageText(path string, r any) string {
	slog.Debug("reading the transport database failed", "path", path, "panic", fmt.Sprint(r))
	if d := describeDamage(path); d != "" {
		return d
	}
	return "a damaged page: reading the file failed, and the walk of its bucket pages from the root found no damaged one " +
		"(the damage is in the free page list or in a stored value)"
}
