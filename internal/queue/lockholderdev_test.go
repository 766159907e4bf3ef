package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// OPS-3 (lifert39 F3): /proc/locks names a file by its superblock's
// device, MAJOR:MINOR in hex of at least two digits each, and its inode
// in decimal: every kind of device is matched by the one reader of the
// list (listedLock), none by a lookalike (the same inode on a device
// whose numbers read alike in decimal and hex).
func TestOPS3LockListMatchesEveryDevice(t *testing.T) {
	const ino = 7418
	cases := []struct {
		name         string
		major, minor uint64
		listed       string // the device as the kernel prints it
	}{
		{"tmpfs (anonymous device)", 0, 40, "00:28"},
		{"btrfs / overlay (anonymous, two-digit hex)", 0, 0x6a, "00:6a"},
		{"loop", 7, 0, "07:00"},
		{"loop, later minor", 7, 17, "07:11"},
		{"SATA partition", 8, 1, "08:01"},
		{"device mapper", 254, 0, "fe:00"},
		{"NVMe (major 259)", 259, 3, "103:03"},
		{"a large minor", 0, 0x10123, "00:10123"},
		{"the largest minor", 8, 0xfffff, "08:fffff"},
	}
	locks := filepath.Join(t.TempDir(), "locks")
	for _, c := range cases {
		file := lockedFile{major: c.major, minor: c.minor, ino: ino}
		text := fmt.Sprintf("1: FLOCK  ADVISORY  WRITE 9964 %s:%d 0 EOF\n", c.listed, ino)
		if err := os.WriteFile(locks, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if pid, listed, err := listedLock(locks, file, "WRITE"); err != nil || !listed || pid != 9964 {
			t.Errorf("%s: %q: listedLock = %d, %v, %v; want pid 9964", c.name, text, pid, listed, err)
		}
		// The decimal digits read as hex name another device: not it.
		lookalike := lockedFile{major: c.major, minor: c.minor + 1, ino: ino}
		if pid, listed, _ := listedLock(locks, lookalike, "WRITE"); listed {
			t.Errorf("%s: %q named pid %d as the holder of device %d:%d", c.name, text, pid, lookalike.major, lookalike.minor)
		}
	}
}

// OPS-3 (lifert39 F3): a second serve on a data directory of a tmpfs or
// a loop-mounted filesystem, given as a relative path (data_dir: d),
// said the holder of queue.db was "a process the system does not name
// here": the device was looked up in mountinfo for the relative path,
// which no mount point but / prefixes, so the root filesystem's device
// was matched against /proc/locks. The path is made absolute first;
// the device of the mount that holds it is the one named.
func TestOPS3LockedFileOfARelativePathIsOnItsOwnMount(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "mnt", "d")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "queue.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(base, "mnt"))
	if err != nil {
		t.Fatal(err)
	}
	mi := filepath.Join(base, "mountinfo")
	os.WriteFile(mi, []byte("22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/mapper/root rw\n"+
		"95 22 0:40 / "+real+" rw,relatime shared:50 - tmpfs tmpfs rw\n"), 0o644)
	old := procMountinfo
	procMountinfo = mi
	defer func() { procMountinfo = old }()
	t.Chdir(filepath.Join(base, "mnt"))
	var st syscall.Stat_t
	if err := syscall.Stat("d/queue.db", &st); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"d/queue.db", "./d/queue.db", db} {
		if f := lockedFileAt(p, &st); f.major != 0 || f.minor != 40 || f.ino != st.Ino {
			t.Errorf("lockedFileAt(%q) = %d:%d ino %d; want the tmpfs mount's 0:40 ino %d", p, f.major, f.minor, f.ino, st.Ino)
		}
	}
}
