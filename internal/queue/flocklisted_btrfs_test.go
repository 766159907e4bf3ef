package queue

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// OPS-3, Q-4 (rr-sockadm25 F1): flockListed (LockHolder's answer for a
// user who may not open the database: a member of the socket's group)
// built /proc/locks' device from stat's st_dev. /proc/locks prints the
// superblock's device; btrfs' stat gives the subvolume's (never the
// same), so the daemon's lock was "not listed" and a group operator's
// CLI said "umbra stopped" for a running daemon. Here a btrfs image is
// loop-mounted and the lock taken on a file in a subvolume.
func TestFlockListedOnBtrfs(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.btrfs")
	if os.Geteuid() != 0 || err != nil {
		if os.Getenv("CI") != "" && os.Geteuid() == 0 {
			t.Fatalf("CI as root: mkfs.btrfs is needed (.ci/run installs btrfs-progs): %v", err)
		}
		t.Skip("needs root and mkfs.btrfs")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(128 << 20)
	f.Close()
	if out, err := exec.Command(mkfs, "-q", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount -o loop: %v %s", err, out)
		}
		t.Skipf("no loop mount here: %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	sub := filepath.Join(mnt, "sub")
	if out, err := exec.Command("btrfs", "subvolume", "create", sub).CombinedOutput(); err != nil {
		t.Fatalf("btrfs subvolume create: %v %s", err, out)
	}
	for _, d := range []string{mnt, sub} {
		db := filepath.Join(d, "queue.db")
		lf, err := os.Create(db)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(db, &st); err != nil {
			t.Fatal(err)
		}
		pid, listed := flockListed(db, st.Ino)
		if !listed || pid != os.Getpid() {
			b, _ := os.ReadFile("/proc/locks")
			t.Errorf("the write lock this process holds on %s (st_dev %#x, ino %d): flockListed = %d, %v; /proc/locks:\n%s", db, st.Dev, st.Ino, pid, listed, b)
		}
		lf.Close()
	}
}
