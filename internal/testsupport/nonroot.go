package testsupport

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nonRootEnv marks the child AsNonRoot runs.
const nonRootEnv = "UMBRA_TEST_NONROOT"

// nobody is the user id a test runs as in AsNonRoot's child.
const nobody = 65534

// AsNonRoot makes the calling test run as a user without root's rights
// to every file — what it checks (a directory the user may write but
// not list, a parent it may search but not read) does not exist for
// root. Run by a non-root user it returns true: go on. Run as root (as
// CI runs), it runs the test again in a child — a copy of the test
// binary in a directory of its own, as the user nobody, with TMPDIR
// there and env added — reports the child's failure as the test's, and
// returns false: the caller returns. A child that did not run the test
// fails it too, so the test cannot pass unseen.
func AsNonRoot(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return true
	}
	if os.Getenv(nonRootEnv) != "" {
		t.Fatal("the child for a non-root run is still root")
	}
	dir, err := os.MkdirTemp("", "umbra-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "test.bin")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), nonRootEnv+"=1", "TMPDIR="+dir, "HOME="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("the test run as the user nobody failed: %v\n%s", err, out)
	case !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Fatalf("the test run as the user nobody did not pass:\n%s", out)
	}
	return false
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
