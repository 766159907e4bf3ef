package queue

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// OPS-3 (rr-sockadm25 F2): the kernel leaves out of /proc/locks every
// lock whose holder the reader's pid namespace cannot see, so a user
// who may not open the database (a member of the socket's group) found
// the lock of a daemon in another pid namespace "not listed", and that
// was taken for "not held": umbra "stopped" while it ran. LockState says
// it is not known. Here the asker runs in a new pid namespace without
// capabilities (root without CAP_DAC_OVERRIDE may not open a mode-0
// file), the lock held by this process outside it.
func TestLockStateFromOtherPIDNamespace(t *testing.T) {
	if db := os.Getenv("UMBRA_LOCKSTATE_DB"); db != "" {
		held, known, pid, _ := LockState(db)
		_, err := os.Open(db)
		fmt.Printf("held=%v known=%v pid=%d open=%v\n", held, known, pid, err)
		return
	}
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs unshare and root")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	db := filepath.Join(dir, "queue.db")
	f, err := os.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	os.Chmod(db, 0)
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "setpriv", "--bounding-set=-all", "--inh-caps=-all",
		os.Args[0], "-test.run=^TestLockStateFromOtherPIDNamespace$")
	cmd.Env = append(os.Environ(), "UMBRA_LOCKSTATE_DB="+db)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "permission denied") {
		t.Skipf("the asker could open the database: %s", out)
	}
	if !strings.Contains(string(out), "known=false") {
		t.Errorf("a write lock held outside the asker's pid namespace, on a database it may not open: %s", out)
	}
}
