package tracking

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fillTmpfs mounts a small tmpfs of its own (skipped where it cannot)
// and returns it with a func that fills it and one that frees it.
func fillTmpfs(t *testing.T) (dir string, fill, free func()) {
	t.Helper()
	dir = t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	filler := filepath.Join(dir, "filler")
	fill = func() {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 4096)
		for _, n := range []int{4096, 512, 1} {
			for range 1 << 10 { // bounded: the mount holds 256 KiB
				if _, err := f.Write(buf[:n]); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatal(err)
					}
					break
				}
			}
		}
	}
	free = func() { os.Remove(filler) }
	return dir, fill, free
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// rt51 F6: events lost on a full disk had no count, and the only trace
// was one stderr line per run outside the log format. They are counted
// (umbra_tracking_log_events_lost_total) and logged through the
// daemon's logger, at a bounded rate, and the return of writing is
// logged with the count lost.
func TestEventsLostOnFullDiskAreCountedAndLogged(t *testing.T) {
	dir, fill, free := fillTmpfs(t)
	l, err := Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reg := prometheus.NewRegistry()
	l.Register(reg)
	var out syncBuf
	l.SetLogger(slog.New(slog.NewJSONHandler(&out, nil)))
	e := Entry{Time: time.Now(), Event: "deliver", ID: "0001", Sender: "a@example.org", Recipients: []string{"x@example.test"}}
	l.Write(e)
	fill()
	for range 200 { // more than the file's last page holds
		l.Write(e)
	}
	lost := testutil.ToFloat64(l.lost)
	if lost == 0 {
		t.Fatal("umbra_tracking_log_events_lost_total = 0 after 200 events on a full disk")
	}
	lines := strings.Count(out.String(), "\n")
	if lines == 0 || lines > 2 {
		t.Fatalf("%d log lines for the lost events, want 1 (bounded):\n%s", lines, out.String())
	}
	if !strings.Contains(out.String(), `"msg":"tracking log events lost`) {
		t.Fatalf("not a record of the daemon's log: %s", out.String())
	}
	free()
	l.Write(e)
	if !strings.Contains(out.String(), "tracking log written again after failed writes") {
		t.Fatalf("the return of writing is not logged: %s", out.String())
	}
	if got := testutil.ToFloat64(l.lost); got != lost {
		t.Fatalf("an event written counted as lost: %v, was %v", got, lost)
	}
	// Every event is either a whole line of the file or counted lost.
	b, err := os.ReadFile(filepath.Join(dir, "tracking.log"))
	if err != nil {
		t.Fatal(err)
	}
	whole := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "{") && strings.HasSuffix(line, "}") && !strings.Contains(line, `"event":"lost"`) { // not the gap's own line (gap.go)
			whole++
		}
	}
	if float64(whole)+lost != 202 {
		t.Fatalf("%d whole lines in the file and %v counted lost, of 202 events", whole, lost)
	}
}
