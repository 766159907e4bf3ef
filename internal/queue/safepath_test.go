package queue

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// OPS-3 (rr27 F1): db restore --owner gives the data directory to the
// daemon's user by its path (chownDir). Its name planted as a link by
// another user in a directory others may write, to an existing
// directory (/etc), gave that directory away; a link on the path
// another user may have put there is refused, not followed. The
// operator's own link (root's, in a directory of root's) is followed.
func TestChownDirRefusesAPlantedLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the planted link belongs to another user")
	}
	const nobody = 65534
	shared, victim := t.TempDir(), t.TempDir()
	os.Chmod(shared, 0o777|os.ModeSticky)
	data := filepath.Join(shared, "data")
	os.Symlink(victim, data)
	os.Lchown(data, nobody, nobody)
	err := chownDir(data, nobody, nobody)
	var refused *LinkRefusedError
	if !errors.As(err, &refused) {
		t.Errorf("chownDir through another user's link: %v, want a LinkRefusedError", err)
	}
	var st syscall.Stat_t
	if syscall.Stat(victim, &st); st.Uid != 0 {
		t.Errorf("the link's target was given to uid %d", st.Uid)
	}

	own, srv := t.TempDir(), t.TempDir()
	os.Chmod(own, 0o755)
	link := filepath.Join(own, "umbra")
	os.Symlink(srv, link)
	if err := chownDir(link, nobody, nobody); err != nil {
		t.Fatalf("chownDir through the operator's own link: %v", err)
	}
	if syscall.Stat(srv, &st); st.Uid != nobody {
		t.Errorf("the operator's link's target: uid %d, want %d", st.Uid, nobody)
	}
	if syscall.Lstat(link, &st); st.Uid != 0 {
		t.Errorf("the link itself changed owner: uid %d", st.Uid)
	}
}
