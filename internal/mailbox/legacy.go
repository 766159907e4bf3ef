package mailbox

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"umbra/internal/mailaddr"
)

// LegacyDir is one domain directory written by a release before one
// Maildir per A-label (under the U-label, non-ASCII letters kept as the
// sender wrote them) and what MergeLegacyIDN did with it.
type LegacyDir struct {
	Old, New string // absolute paths: the U-label directory, its A-label one
	Moved    int    // messages moved into New
	// Left are the messages (paths) kept in Old because a delivery of
	// the same name is in New's mailbox already (the same copy, delivered
	// again after the upgrade; its flags may differ).
	Left []string
	// Remains: Old is still there after the merge (Left, a file in tmp/,
	// or what a reader keeps beside new/ and cur/: folders, indexes).
	Remains bool
}

// LegacyMerge is what MergeLegacyIDN did.
type LegacyMerge struct {
	Dirs  []LegacyDir
	Moved int
	Left  []string
}

// MergeLegacyIDN moves the messages of legacy U-label domain
// directories into the mailboxes new mail goes to (Path: the A-label),
// so that a mailbox is one directory again after an upgrade. A legacy
// directory is a directory of the root whose name has a non-ASCII byte
// and no escape, names a domain IDNA accepts, and is not that domain's
// directory now ("bücher.example", "bÜcher.example" for
// "xn--bcher-kva.example"). For each of its mailboxes, the files of
// new/ and cur/ (deliveries; cur/ ones with a reader's flags, kept) go
// to the same subdirectory of the A-label mailbox by link(2) then
// unlink: a name is never replaced, and a message is in one place or,
// after a crash between the two, linked in both (the next merge finds
// the same file there and removes the old name). A message whose delivery name is already in
// the A-label mailbox (new/NAME, cur/NAME:flags) stays and is reported
// in Left. tmp/ (a write that never finished) and anything else a
// reader keeps in the mailbox (folders, indexes) stay where they are;
// directories left empty are removed. It is safe while umbra delivers
// (delivery never writes a legacy directory), idempotent, and safe for
// two hubs sharing the store at once.
func (d *Maildir) MergeLegacyIDN() (LegacyMerge, error) {
	var out LegacyMerge
	ents, err := os.ReadDir(d.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || !legacyDomainDir(n) {
			continue
		}
		ld := LegacyDir{Old: filepath.Join(d.Root, n), New: filepath.Join(d.Root, component(mailaddr.DomainKey(n)))}
		if err := d.mergeDomain(&ld); err != nil {
			return out, err
		}
		if os.Remove(ld.Old) != nil {
			ld.Remains = true
		}
		out.Dirs = append(out.Dirs, ld)
		out.Moved += ld.Moved
		out.Left = append(out.Left, ld.Left...)
	}
	return out, nil
}

// legacyDomainDir reports whether n, a directory name under the root,
// is a domain directory a release before one Maildir per A-label wrote
// for an internationalised domain.
func legacyDomainDir(n string) bool {
	if strings.Contains(n, "%") || strings.IndexFunc(n, func(r rune) bool { return r >= 0x80 }) < 0 {
		return false
	}
	k, err := mailaddr.Domain(n)
	return err == nil && component(k) != n
}

func (d *Maildir) mergeDomain(ld *LegacyDir) error {
	boxes, err := os.ReadDir(ld.Old)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // another hub sharing the store merged it
	}
	if err != nil {
		return err
	}
	for _, b := range boxes {
		if !b.IsDir() {
			continue
		}
		from, to := filepath.Join(ld.Old, b.Name()), filepath.Join(ld.New, b.Name())
		moved := 0
		var present map[string]bool // names(to), listed once per mailbox
		for _, sub := range []string{"new", "cur"} {
			files, err := os.ReadDir(filepath.Join(from, sub))
			if errors.Is(err, fs.ErrNotExist) { // none, or merged by another hub
				continue
			}
			if err != nil {
				return err
			}
			for _, f := range files {
				if !f.Type().IsRegular() {
					continue
				}
				if moved == 0 {
					for _, s := range []string{"tmp", "new", "cur"} {
						if err := os.MkdirAll(filepath.Join(to, s), 0o700); err != nil {
							return err
						}
					}
				}
				src := filepath.Join(from, sub, f.Name())
				name, _, _ := strings.Cut(f.Name(), ":")
				dst := filepath.Join(to, sub, f.Name())
				if sameFile(src, dst) {
					// linked by a merge that stopped before the unlink
					if err := os.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return err
					}
					moved++
					continue
				}
				if present == nil {
					present = names(to)
				}
				if present[name] {
					ld.Left = append(ld.Left, src)
					continue
				}
				if err := os.Link(src, dst); err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						continue // moved by another hub sharing the store
					}
					if errors.Is(err, fs.ErrExist) {
						ld.Left = append(ld.Left, src)
						continue
					}
					return err
				}
				present[name] = true // a file of the same name in cur/ after new/ stays
				if err := os.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err // (not there: another hub sharing the store merged it)
				}
				moved++
			}
		}
		if moved > 0 {
			for _, s := range []string{"new", "cur"} {
				if err := syncDir(filepath.Join(to, s)); err != nil {
					return err
				}
			}
			ld.Moved += moved
		}
		for _, s := range []string{"tmp", "new", "cur"} {
			os.Remove(filepath.Join(from, s)) // only when empty
		}
		os.Remove(from)
	}
	return nil
}

// sameFile reports whether a and b are one file (two hard links of it).
// Unlike config.SameFile it follows no symbolic link at a or b: the
// merge removes a when b is another link of it, and a symbolic link b
// to a would then point at nothing.
func sameFile(a, b string) bool {
	x, err := os.Lstat(a)
	if err != nil {
		return false
	}
	y, err := os.Lstat(b)
	return err == nil && os.SameFile(x, y)
}
