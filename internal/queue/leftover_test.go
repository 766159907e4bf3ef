package queue

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// rt21 F5: a compaction that cannot write its copy (a full disk; here
// the file size limit) left an empty queue.db.compact beside the
// database, and its error did not say that the database is unchanged.
// The copy is removed and the error says so.
func TestCompactionThatCannotWriteLeavesNothing(t *testing.T) {
	if path := os.Getenv("UMBRA_TEST_COMPACT_UNDER_FSIZE"); path != "" {
		compactUnderFileSizeLimit(path)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, _ := os.ReadFile(path)
	// The file size limit is the process's, every thread's: lowered in
	// this test binary it also failed the test framework's own log
	// (testlog.txt: file too large), so the compaction runs in a child.
	cmd := exec.Command(os.Args[0], "-test.run=^TestCompactionThatCannotWriteLeavesNothing$", "-test.count=1")
	cmd.Env = append(os.Environ(), "UMBRA_TEST_COMPACT_UNDER_FSIZE="+path)
	out, _ := cmd.CombinedOutput()
	got := string(out)
	switch {
	case strings.Contains(got, "SKIP-FSIZE:"):
		t.Skip(got)
	case strings.Contains(got, "COMPACTED-UNDER-LIMIT"):
		t.Fatal("the compaction succeeded under a 4 KiB file size limit")
	case !strings.Contains(got, "COMPACT-ERROR:"):
		t.Fatalf("the child reported nothing: %s", got)
	}
	if !strings.Contains(got, "the database is unchanged") {
		t.Errorf("the error does not say the database is untouched: %s", got)
	}
	if _, serr := os.Lstat(path + ".compact"); serr == nil {
		t.Errorf("%s.compact left behind after: %s", path, got)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the database changed")
	}
}

// compactUnderFileSizeLimit is the child of
// TestCompactionThatCannotWriteLeavesNothing: it compacts path with the
// file size limit below bbolt's first pages and prints the outcome.
func compactUnderFileSizeLimit(path string) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Println("SKIP-FSIZE:", err)
		return
	}
	lim.Cur = 4096 // less than bbolt's first pages: the copy cannot be written
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Println("SKIP-FSIZE:", err)
		return
	}
	signal.Ignore(syscall.SIGXFSZ)
	if _, _, err := CompactTo(path, 0, 0); err != nil {
		fmt.Println("COMPACT-ERROR:", err)
		return
	}
	fmt.Println("COMPACTED-UNDER-LIMIT")
}

// rt21 F5: a restore killed between its link (queue.db.replaced-TIME,
// the database it replaces) and its rename leaves that link — a second
// name of the LIVE database, which keeps changing — and a compaction
// killed before its rename leaves queue.db.compact. The next start
// removes both and says so (Leftovers); a replaced database a finished
// restore kept (another file) stays.
func TestOpenRemovesLeftoversOfKilledRestoreAndCompaction(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	link := path + ".replaced-20261201T185900Z"
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	kept := path + ".replaced-20261130T120000Z" // a finished restore's: another file
	b, _ := os.ReadFile(path)
	os.WriteFile(kept, b, 0o600)
	os.WriteFile(path+".compact", nil, 0o600)

	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	left := strings.Join(s.Leftovers(), " ")
	s.Close()
	for _, f := range []string{link, path + ".compact"} {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s still there", f)
		}
		if !strings.Contains(left, f) {
			t.Errorf("Leftovers %q does not name %s", left, f)
		}
	}
	if _, err := os.Lstat(kept); err != nil {
		t.Errorf("a finished restore's replaced database was removed: %v", err)
	}

	// The same at a compaction and a restore run by hand before a start.
	os.Link(path, link)
	if _, _, err := CompactTo(path, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); err == nil {
		t.Error("the compaction kept a second name of the database it replaced")
	}
}
