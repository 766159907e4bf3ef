package queue

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// OPS-3 (reread of opsfix27): chownDir walks the data directory's path
// under safepath.go's rule, but the restore's next step on the same
// path — giveTree(DATA/spool), run after the rename, well after
// chownDir looked — opens DATA through walkOwned, which follows every
// link above the last name. A link another user put at the data
// directory's name (refused by chownDir a moment before) leads root's
// chown into the directory it names: the spool of /var (/var/spool) is
// given to the daemon's user.
func TestGiveTreeRefusesAPlantedLinkAsChownDirDoes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the planted link belongs to another user")
	}
	const nobody = 65534
	shared, victim := t.TempDir(), t.TempDir()
	os.Chmod(shared, 0o777|os.ModeSticky)
	os.MkdirAll(filepath.Join(victim, "spool"), 0o700)
	secret := filepath.Join(victim, "spool", "crontab")
	os.WriteFile(secret, []byte("root's\n"), 0o600)
	data := filepath.Join(shared, "data")
	os.Symlink(victim, data)
	os.Lchown(data, nobody, nobody)
	if err := chownDir(data, nobody, nobody); err == nil {
		t.Fatalf("chownDir followed the planted link")
	}
	err := giveTree(filepath.Join(data, "spool"), Owner{UID: nobody, GID: nobody})
	var st syscall.Stat_t
	syscall.Stat(secret, &st)
	if st.Uid != 0 {
		t.Errorf("giveTree through another user's link (chownDir refused it): %s given to uid %d (err %v)", secret, st.Uid, err)
	}
}

// OPS-3 (reread of opsfix27), the whole restore: the data directory
// lies in a directory of the daemon's user (/var/lib/umbra/data, the
// daemon's user owning /var/lib/umbra), a layout CheckDataDirPath and
// chownDir pass. That user, once chownDir has looked, puts a link at
// the data directory's name (the rule would refuse it: a link of that
// user's in that user's directory); the spool given after the rename
// (giveTree, by its path) is then the spool of the directory the link
// names — root's directory elsewhere becomes the daemon's user's (an
// empty one: /var/spool/cron/crontabs), or, holding files, is renamed
// away by root ("spool moved aside").
func TestRestoreOwnerFollowsNoLinkPlantedAfterChownDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root")
	}
	const nobody = 65534
	parent, victim := t.TempDir(), t.TempDir()
	os.Chmod(parent, 0o755)
	os.Chown(parent, nobody, nobody) // the daemon's user's directory
	dataDir := filepath.Join(parent, "data")
	if err := os.Mkdir(dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	backup, path := restoreFixture(t, dataDir)
	os.MkdirAll(filepath.Join(victim, "spool"), 0o700) // empty
	defer func() { restoreStep = nil }()
	restoreStep = func(point string) {
		if point == "renamed" { // what the daemon's user may do in its own directory
			os.Rename(dataDir, dataDir+".moved")
			os.Symlink(victim, dataDir)
			os.Lchown(dataDir, nobody, nobody)
		}
	}
	_, rerr := RestoreWith(backup, path, RestoreOptions{Owner: &Owner{UID: nobody, GID: nobody}, GiveDataDir: true})
	var st syscall.Stat_t
	p := filepath.Join(victim, "spool")
	if err := syscall.Stat(p, &st); err != nil {
		t.Errorf("%s: %v", p, err)
	} else if st.Uid != 0 {
		t.Errorf("%s, reached through a link the daemon's user planted on the data directory's path, given to uid %d (restore: %v)", p, st.Uid, rerr)
	}
}
