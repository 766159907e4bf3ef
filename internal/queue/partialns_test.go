package queue

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS-3, Q-4 (rr25 F3): RemoveStalePartials (db backup's partial copies)
// and RemoveStaleTemps (message export's) took "kill(pid, 0) == ESRCH"
// for "the writer is gone". A backup (or export) run in another pid
// namespace — a container, a pod, a systemd unit with PrivatePIDs — into
// the same directory does not see the writer's pid and removed the
// partial copy a LIVE backup writes; that backup then failed at its
// mark or its link (ENOENT). A writer holds a lock on its copy now
// (CreateTemp), and the cleaner removes only a copy whose lock it can
// take: here the cleaner runs in a new pid namespace (unshare --pid)
// while a SaveBackup and an export's CreateTemp of this process write;
// both copies stay, and the backup is then linked whole. The dead
// copies beside them, named with pid 1 (alive in both namespaces: a pid
// reused), are removed and listed.
func TestLivePartialKeptFromAnotherPIDNamespace(t *testing.T) {
	if dir := os.Getenv("UMBRA_PARTIALNS_DIR"); dir != "" {
		st := RemoveStalePartials(filepath.Join(dir, "x.db"))
		st2 := RemoveStaleTemps(dir, ".umbra-export-", ".eml")
		for _, p := range append(st.Removed, st2.Removed...) {
			fmt.Printf("removed %s\n", filepath.Base(p.Path))
		}
		fmt.Printf("cleaner pid %d\n", os.Getpid())
		return
	}
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs unshare and root")
	}
	s := openTest(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "x.db")
	// A live backup: its copy written, the writer not done yet.
	copied, release, saved := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := SaveBackup(target, func(w io.Writer) (int64, error) {
			n, err := s.Backup(w, nil)
			close(copied)
			<-release
			return n, err
		})
		saved <- err
	}()
	select {
	case <-copied:
	case <-time.After(time.Minute):
		t.Fatal("the backup's copy was not written")
	}
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	live, _ := filepath.Glob(filepath.Join(dir, MarkedTemp(".x.db.partial-")+"*"))
	if len(live) != 1 {
		t.Fatalf("the live backup's partial copy: %v", live)
	}
	// A live export's copy.
	ex, err := CreateTemp(dir, MarkedTemp(".umbra-export-")+"*.eml")
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	ex.WriteString("being written")
	// Copies whose writers are gone, named with a pid that lives.
	dead := []string{filepath.Join(dir, ".x.db.partial-L1-12345"), filepath.Join(dir, ".umbra-export-L1-777.eml")}
	for _, f := range dead {
		if err := os.WriteFile(f, []byte("left by a killed writer"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command("unshare", "--pid", "--fork", os.Args[0], "-test.run=^TestLivePartialKeptFromAnotherPIDNamespace$")
	cmd.Env = append(os.Environ(), "UMBRA_PARTIALNS_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cleaner pid 1\n") {
		t.Fatalf("the cleaner in a new pid namespace: %v\n%s", err, out)
	}
	for _, f := range []string{live[0], ex.Name()} {
		if _, err := os.Stat(f); err != nil || strings.Contains(string(out), "removed "+filepath.Base(f)) {
			t.Errorf("the copy %s of a live writer (pid %d) was removed by a command in another pid namespace: %v\n%s", f, os.Getpid(), err, out)
		}
	}
	for _, f := range dead {
		if _, err := os.Stat(f); err == nil || !strings.Contains(string(out), "removed "+filepath.Base(f)) {
			t.Errorf("the copy %s of a writer that is gone, its pid alive, was not removed and said: %v\n%s", f, err, out)
		}
	}
	close(release)
	select {
	case err := <-saved:
		if err != nil {
			t.Fatalf("the live backup: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the live backup did not end")
	}
	if err := VerifyBackup(target); err != nil {
		t.Errorf("the live backup, linked whole: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".x.db.partial-*")); len(left) != 0 {
		t.Errorf("partial copies left after the backup: %v", left)
	}
}

// OPS-3 (rr25 F3), in one pid namespace, as any user: a copy whose
// writer is gone is removed though its pid now names a live process
// (this one: a pid reused — it was kept forever, unseen), and one a
// live writer holds (CreateTemp) is kept though its pid is this
// process's too; a name without a pid (before release 24) is kept and
// listed.
func TestStalePartialOfReusedPIDRemoved(t *testing.T) {
	dir := t.TempDir()
	pid := strconv.Itoa(os.Getpid())
	dead := filepath.Join(dir, ".x.db.partial-L"+pid+"-1")
	if err := os.WriteFile(dead, []byte("left by a killed writer"), 0o600); err != nil {
		t.Fatal(err)
	}
	live, err := CreateTemp(dir, ".x.db.partial-L"+pid+"-*")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	legacy := filepath.Join(dir, ".x.db.partial-123456")
	if err := os.WriteFile(legacy, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Not regular files: never opened for their lock, never removed.
	fifo := filepath.Join(dir, ".x.db.partial-L"+pid+"-fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	st := RemoveStalePartials(filepath.Join(dir, "x.db"))
	if len(st.Removed) != 1 || st.Removed[0].Path != dead || st.Removed[0].Bytes != int64(len("left by a killed writer")) {
		t.Errorf("removed %+v, want %s alone", st.Removed, dead)
	}
	if len(st.Kept) != 1 || st.Kept[0] != legacy {
		t.Errorf("kept %v, want %s", st.Kept, legacy)
	}
	for _, f := range []string{live.Name(), legacy, fifo} {
		if _, err := os.Lstat(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// Its writer done (the lock let go with its descriptor): removed.
	live.Close()
	if st := RemoveStalePartials(filepath.Join(dir, "x.db")); len(st.Removed) != 1 || st.Removed[0].Path != live.Name() {
		t.Errorf("after its writer closed it: removed %+v, want %s", st.Removed, live.Name())
	}
}
