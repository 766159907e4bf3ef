package tracking

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A rotation on a full file system (no inode left for the new file:
// ENOSPC at its open) lost every later event until the next start,
// although space came back. The events while it cannot be opened are
// counted lost and logged, and the first write after space returns
// opens the file again and is written (at most one open tried a second
// while it fails).
func TestRotationOnFullDiskResumesWhenSpaceReturns(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=16", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	path := filepath.Join(dir, "tracking.log")
	l, err := Open(path, 4<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	clk := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return clk }
	reg := prometheus.NewRegistry()
	l.Register(reg)
	var out syncBuf
	l.SetLogger(slog.New(slog.NewJSONHandler(&out, nil)))
	// Every inode taken: the rotation's new file cannot be made.
	var fillers []string
	for i := range 64 { // bounded: the mount has 16 inodes
		p := filepath.Join(dir, fmt.Sprintf("filler%d", i))
		f, err := os.Create(p)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
		f.Close()
		fillers = append(fillers, p)
	}
	e := Entry{Time: clk, Event: "deliver", ID: "0001", Sender: "a@example.org", Recipients: []string{"x@example.test"}}
	for range 100 { // past 4 KiB: a rotation
		l.Write(e)
	}
	lost := testutil.ToFloat64(l.lost)
	if lost == 0 {
		t.Fatal("no event counted lost after a rotation that could not open its file")
	}
	if !strings.Contains(out.String(), "could not be opened") {
		t.Fatalf("the failed open is not logged: %s", out.String())
	}
	// Space returns.
	if err := os.Remove(fillers[0]); err != nil {
		t.Fatal(err)
	}
	clk = clk.Add(2 * time.Second)
	e.ID = "0002"
	l.Write(e)
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `"0002"`) {
		t.Fatalf("after space returned the event is not written (%v):\n%s\nlog: %s", err, b, out.String())
	}
	if got := testutil.ToFloat64(l.lost); got != lost {
		t.Fatalf("the event written after space returned counted lost: %v, was %v", got, lost)
	}
	if !strings.Contains(out.String(), "tracking log written again") {
		t.Fatalf("the return of writing is not logged: %s", out.String())
	}
}
