package queue

import (
	"encoding/binary"
	"fmt"
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
// 8-byte keys of the message buckets, else hex.
func shownKey(path []string, k []byte) string {
	if len(k) == 8 && len(path) == 1 && (path[0] == string(bucketMessages) || path[0] == string(bucketBodies) || path[0] == string(bucketDamaged)) {
		return "message " + ID(binary.BigEndian.Uint64(k)).String()
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
		return w.node(inline, 0, path, nil, depth)
	}
	return w.page(root, path, nil, depth)
}

// page walks page id of the bucket path.
func (w *pageWalk) page(id uint64, path []string, after []byte, depth int) string {
	if w.seen[id] {
		return fmt.Sprintf("page %d (%s) is reached twice: its parent was overwritten", id, where(path, after))
	}
	w.seen[id] = true
	if w.pages++; w.pages > 1<<24 {
		return ""
	}
	b, why := w.read(id)
	if why != "" {
		return fmt.Sprintf("%s: %s", where(path, after), why)
	}
	return w.node(b, id, path, after, depth)
}

// node checks the page (or inline page) b, page number id (0: inline),
// and walks what it names.
func (w *pageWalk) node(b []byte, id uint64, path []string, after []byte, depth int) string {
	name := fmt.Sprintf("page %d", id)
	if id == 0 {
		name = "the inline page"
	}
	name += " (" + where(path, after) + ")"
	if len(b) < boltPageHeader {
		return name + ": shorter than a page header"
	}
	bo := binary.NativeEndian
	flags, count := bo.Uint16(b[8:]), int(bo.Uint16(b[10:]))
	if flags != pageBranch && flags != pageLeaf {
		return fmt.Sprintf("%s: page type %#x, not a branch or leaf page: overwritten", name, flags)
	}
	if boltPageHeader+count*elemSize > len(b) {
		return fmt.Sprintf("%s: %d elements do not fit in its %d bytes", name, count, len(b))
	}
	var prev []byte
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
			return fmt.Sprintf("%s: element %d of %d (%s) runs past the page's end (offset %d, key %d bytes, value %d bytes, page %d bytes): its element headers were overwritten",
				name, i+1, count, at, start, ksize, vsize, len(b))
		}
		key := b[start : start+ksize]
		switch {
		case flags == pageBranch:
			if why := w.page(child, path, key, depth); why != "" {
				return why
			}
		case eflags&leafBucketFlag != 0:
			v := b[start+ksize : start+ksize+vsize]
			if len(v) < 16 {
				return fmt.Sprintf("%s: the bucket %q has a header of %d bytes", name, key, len(v))
			}
			if why := w.bucket(bo.Uint64(v), v[16:], append(append([]string{}, path...), string(key)), depth+1); why != "" {
				return why
			}
		}
		prev = key
	}
	return ""
}

// damageText is what an operator is told of a panic r met reading the
// database at path: the damage describeDamage names, with the panic's
// text after it, or the text alone when the walk found nothing.
func damageText(path string, r any) string {
	if d := describeDamage(path); d != "" {
		return fmt.Sprintf("%s (reading it failed: %v)", d, r)
	}
	return fmt.Sprintf("a page could not be read: %v", r)
}
