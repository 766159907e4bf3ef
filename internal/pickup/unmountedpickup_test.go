package pickup

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SR-12: KeyFileGone keeps a key when the pickup directory "is
// not there (an unmounted file system)" — but a pickup directory that is
// itself a mount point (a read-only export mounted there: the case the
// key is kept for) stays there, empty, while it is unmounted, and every
// lingering file's key is then said gone and pruned. Remounted, the very
// same drop (same key) lies there again, and the next scan, finding no
// key, submits it a second time. Root only (a bind mount stands for the
// file system).
func TestSR12KeyFileGoneOfAnUnmountedPickupMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a bind mount")
	}
	src, dir := t.TempDir(), filepath.Join(t.TempDir(), "pickup")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(src, "report.eml"), []byte("X-Receiver: a@example.net\n\nhi\n"), 0o600)
	if err := syscall.Mount(src, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Skip("no bind mount here:", err)
	}
	mounted := true
	defer func() {
		if mounted {
			syscall.Unmount(dir, 0)
		}
	}()
	release, err := Lock(dir) // the watcher's lock file, on the mounted file system
	if err != nil {
		t.Fatal(err)
	}
	release()
	queuedName := "done.0000000000001234.queued" // an ended message's file, its end kept while it is there
	os.WriteFile(filepath.Join(dir, queuedName), nil, 0o600)
	path := filepath.Join(dir, "report.eml")
	key, err := contentFileKey(path) // the key the scan stored with its message
	if err != nil {
		t.Fatal(err)
	}
	if KeyFileGone(dir)("report.eml", key) {
		t.Fatal("the file there: gone")
	}
	// The file system goes away a moment (an NFS mount stopped, an
	// operator's umount): the mount point stays, empty.
	if err := syscall.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	gone := KeyFileGone(dir)("report.eml", key)
	if QueuedFileGone(dir)(0x1234, "done.eml") {
		t.Error("QueuedFileGone said gone while the pickup file system was unmounted: the end is pruned, and the .queued file, back at the remount, is submitted again")
	}
	// Back: the very same drop lies there under the same key.
	if err := syscall.Mount(src, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	mounted = true
	again, err := contentFileKey(path)
	if err != nil || again != key {
		t.Fatalf("remounted: %v, same key %v", err, err == nil && again == key)
	}
	if gone {
		t.Error("KeyFileGone said gone while the pickup file system was unmounted: the key is pruned, and the same drop, back at the remount, is submitted a second time")
	}
}
