package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// OPS-1 (rr25 ops25 F1): giveTree (db restore --owner, run as root) walks a
// directory the user it gives files to can write (the spool: the old
// one, or spool.restore given to that user by giveOwner before), by
// path. That user swaps a directory of the tree for a symlink while the
// walk is inside it: the Lchown calls that follow resolve through the
// symlink and give files outside the spool (here "outside", in real
// life /etc) to the service user.
func TestGiveTreeRefusesASwappedDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("root only")
	}
	const nobody = 65534
	base := t.TempDir()
	spool := filepath.Join(base, "spool")
	outside := filepath.Join(base, "outside") // stands for /etc: root's files
	for _, d := range []string{filepath.Join(spool, "d"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const n = 3000
	for i := range n {
		name := fmt.Sprintf("f%05d", i)
		for _, d := range []string{filepath.Join(spool, "d"), outside} {
			if err := os.WriteFile(filepath.Join(d, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The service user (it owns the data directory and the spool): waits
	// for the walk to reach spool/d, then swaps spool/d for a symlink.
	done := make(chan struct{})
	go func() {
		defer close(done)
		first := filepath.Join(spool, "d", "f00000")
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			var st syscall.Stat_t
			if syscall.Lstat(first, &st) == nil && st.Uid == nobody {
				os.Rename(filepath.Join(spool, "d"), filepath.Join(spool, "d.old"))
				os.Symlink(outside, filepath.Join(spool, "d"))
				return
			}
		}
	}()
	err := giveTree(spool, Owner{UID: nobody, GID: nobody})
	<-done
	given := 0
	for i := range n {
		var st syscall.Stat_t
		if syscall.Lstat(filepath.Join(outside, fmt.Sprintf("f%05d", i)), &st) == nil && st.Uid == nobody {
			given++
		}
	}
	if given > 0 {
		t.Errorf("giveTree(%s) gave %d files OUTSIDE the spool (%s) to uid %d (err %v): a service user that can write the spool gets any root file", spool, given, outside, nobody, err)
	}
}

// OPS-1: giveOwner and giveTree (run as root over a tree the service
// user may write) change no file outside it: a symlink in the tree is
// not followed, a file with a second hard link (another name of it may
// be root's file elsewhere) is not given, and a path that is itself a
// symlink is not followed.
func TestGiveOwnerFollowsNoLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("root only")
	}
	const nobody = 65534
	base := t.TempDir()
	tree := filepath.Join(base, "tree")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{tree, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(tree, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(tree, "filelink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(secret, filepath.Join(tree, "hardlink")); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(tree, "own")
	if err := os.WriteFile(own, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(base, "rootlink")); err != nil {
		t.Fatal(err)
	}
	uidOf := func(p string) int {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return int(st.Uid)
	}
	if err := giveOwner(tree, fileOwner{uid: nobody, gid: nobody, perm: 0o600}); err != nil {
		t.Fatal(err)
	}
	if err := giveTree(tree, Owner{UID: nobody, GID: nobody}); err != nil {
		t.Fatal(err)
	}
	giveTree(filepath.Join(base, "rootlink"), Owner{UID: nobody, GID: nobody})
	giveOwner(filepath.Join(base, "rootlink"), fileOwner{uid: nobody, gid: nobody, perm: 0o600})
	for _, p := range []string{outside, secret} {
		if uidOf(p) != 0 {
			t.Errorf("%s outside the tree was given to uid %d", p, uidOf(p))
		}
	}
	if fi, _ := os.Stat(secret); fi.Mode().Perm() != 0o644 {
		t.Errorf("%s outside the tree had its mode changed to %v", secret, fi.Mode().Perm())
	}
	if uidOf(own) != nobody || uidOf(tree) != nobody {
		t.Errorf("the tree's own file and directory were not given: uid %d, %d", uidOf(own), uidOf(tree))
	}
}
