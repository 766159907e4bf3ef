package backpressure

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/clock"
)

// Each resource moves between levels with hysteresis, as Exchange's
// resource monitor: up when a watermark is reached, down only below the
// next lower one.
func TestHysteresis(t *testing.T) {
	w := Watermark{Normal: 70, Medium: 80, High: 90}
	steps := []struct {
		v    float64
		want Level
	}{
		{10, Normal}, {79, Normal}, {80, Medium}, {75, Medium}, {70, Medium}, {69.9, Normal},
		{95, High}, {85, High}, {80, High}, {79, Medium}, {91, High}, {50, Normal},
	}
	lvl := Normal
	for i, s := range steps {
		lvl = next(lvl, s.v, w)
		if lvl != s.want {
			t.Fatalf("step %d: %v -> %v, want %v", i, s.v, lvl, s.want)
		}
	}
	if next(High, 1e12, Watermark{}) != Normal {
		t.Error("a resource without watermarks raised the level")
	}
}

// The highest resource sets the level and is named; a change is logged
// and measured; a resource that cannot be read keeps its level.
func TestMonitorLevelResourceLogAndMetrics(t *testing.T) {
	vals := map[string]float64{"a": 0, "b": 0}
	var failB bool
	read := func(name string) func() (float64, error) {
		return func() (float64, error) {
			if name == "b" && failB {
				return 0, errors.New("unreadable")
			}
			return vals[name], nil
		}
	}
	var logBuf bytes.Buffer
	reg := prometheus.NewRegistry()
	m := New([]Resource{
		{Name: "a", Mark: Watermark{Normal: 5, Medium: 10, High: 20}, Read: read("a")},
		{Name: "b", Mark: Watermark{Normal: 5, Medium: 10, High: 20}, Read: read("b")},
	}, slog.New(slog.NewTextHandler(&logBuf, nil)), reg)
	if st := m.Check(); st.Level != Normal || st.Resource != "" {
		t.Fatalf("%+v", st)
	}
	vals["a"], vals["b"] = 12, 25
	st := m.Check()
	if st.Level != High || st.Resource != "b" || st.Value != 25 {
		t.Fatalf("%+v", st)
	}
	if !strings.Contains(logBuf.String(), "back pressure") || !strings.Contains(logBuf.String(), "resource=b") || !strings.Contains(logBuf.String(), "level=high") {
		t.Errorf("log: %s", logBuf.String())
	}
	if v := testutil.ToFloat64(m.level); v != 2 {
		t.Errorf("level gauge %v", v)
	}
	failB = true
	if st := m.Check(); st.Level != High {
		t.Errorf("an unreadable resource dropped the level: %+v", st)
	}
	failB = false
	vals["b"] = 0
	if st := m.Check(); st.Level != Medium || st.Resource != "a" {
		t.Errorf("%+v", st)
	}
	if v := testutil.ToFloat64(m.resLevel.WithLabelValues("b")); v != 0 {
		t.Errorf("b's level gauge %v", v)
	}
	if m.State().Level != Medium {
		t.Error("State is not the last check")
	}
}

// A small filesystem: the data directory's disk fills up to the high
// watermark and empties again. Needs root to mount a tmpfs.
func TestDiskOnSmallFilesystem(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test mounts a tmpfs and must run as root in CI")
		}
		t.Skip("not root: cannot mount a tmpfs for the small-filesystem test (run as root to include it)")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	m := New([]Resource{{Name: "disk_used_percent", Mark: Watermark{Normal: 40, Medium: 50, High: 75}, Read: DiskUsedPercent(dir, Statfs{})}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if st := m.Check(); st.Level != Normal {
		t.Fatalf("empty filesystem: %+v", st)
	}
	fill := filepath.Join(dir, "fill")
	if err := os.WriteFile(fill, make([]byte, 3<<20+512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := m.Check(); st.Level != High || st.Resource != "disk_used_percent" || st.Value < 75 {
		t.Fatalf("full filesystem: %+v", st)
	}
	os.Truncate(fill, 1800<<10) // about 44%: below medium, above normal
	if st := m.Check(); st.Level != Medium {
		t.Fatalf("half-full filesystem after high: %+v", st)
	}
	os.Remove(fill)
	if st := m.Check(); st.Level != Normal {
		t.Fatalf("emptied filesystem: %+v", st)
	}
}

// Run checks at once and then every interval of its clock.
func TestRunChecksOnTheClock(t *testing.T) {
	var reads atomic.Int32
	m := New([]Resource{{Name: "a", Mark: Watermark{Normal: 1, Medium: 2, High: 3}, Read: func() (float64, error) {
		reads.Add(1)
		return 0, nil
	}}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, clk, 2*time.Second); close(done) }()
	waitPending := func() {
		for i := 0; clk.Pending() == 0; i++ {
			if i > 5000 {
				t.Fatal("Run armed no timer")
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitPending()
	if reads.Load() != 1 {
		t.Fatalf("%d checks at start", reads.Load())
	}
	clk.Advance(2 * time.Second)
	for i := 0; reads.Load() != 2; i++ {
		if i > 5000 {
			t.Fatalf("%d checks after one interval", reads.Load())
		}
		time.Sleep(time.Millisecond)
	}
	waitPending()
	clk.Jump(time.Hour) // a wall-clock step is no interval
	time.Sleep(10 * time.Millisecond)
	if reads.Load() != 2 {
		t.Fatalf("%d checks after a wall-clock step", reads.Load())
	}
	cancel()
	<-done
}

// A byte count is logged and shown as the whole number it is, never in
// exponent form (rt51 F9: "value=2.162688e+06" for a 2 MB database).
func TestValuesAreWrittenAsWholeNumbers(t *testing.T) {
	for v, want := range map[float64]string{2162688: "2162688", 12884901888: "12884901888", 91.5: "91.5", 0: "0", 75012: "75012"} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
	var logBuf bytes.Buffer
	size := 0.0
	m := New([]Resource{{Name: "database_size", Mark: Watermark{Normal: 1 << 20, Medium: 2 << 20, High: 3 << 20},
		Read: func() (float64, error) { return size, nil }}}, slog.New(slog.NewTextHandler(&logBuf, nil)), prometheus.NewRegistry())
	m.Check()
	size = 2162688
	if st := m.Check(); st.Level != Medium {
		t.Fatalf("%+v", st)
	}
	if !strings.Contains(logBuf.String(), "value=2162688") || strings.Contains(logBuf.String(), "e+") {
		t.Errorf("log: %s", logBuf.String())
	}
}

type fakeDisk struct {
	used, avail uint64
	files       map[string][2]int64 // device, bytes taken up
}

func (d fakeDisk) Usage(string) (uint64, uint64, error) { return d.used, d.avail, nil }

func (d fakeDisk) File(p string) (uint64, int64, error) {
	f, ok := d.files[p]
	if !ok {
		return 0, 0, os.ErrNotExist
	}
	return uint64(f[0]), f[1], nil
}

// The free space a held file keeps for umbra counts as free only on the
// data directory's filesystem, at most the bytes the file takes up, and
// a file that cannot be read counts as used (lifert38-F1).
func TestDiskUsedPercentHeldFreeSpace(t *testing.T) {
	disk := fakeDisk{used: 90, avail: 10, files: map[string][2]int64{
		"/d": {1, 0}, "/d/queue.db": {1, 60}, "/other/queue.db": {2, 60}}}
	for _, c := range []struct {
		name string
		held []Held
		want float64
	}{
		{"none", nil, 90},
		{"free pages on the same filesystem", []Held{{Path: "/d/queue.db", Free: func() int64 { return 40 }}}, 50},
		{"more free than the file takes up", []Held{{Path: "/d/queue.db", Free: func() int64 { return 500 }}}, 30},
		{"another filesystem", []Held{{Path: "/other/queue.db", Free: func() int64 { return 40 }}}, 90},
		{"unreadable", []Held{{Path: "/gone/queue.db", Free: func() int64 { return 40 }}}, 90},
	} {
		got, err := DiskUsedPercent("/d", disk, c.held...)()
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
}

// OPS-2 (lifert39 F4): the line of a level that falls to normal had no
// resource= and value= ("level=normal previous=high"), though the README
// gives every change of level both: it names the resource that set the
// level it left, with that resource's value now.
func TestFallToNormalNamesTheResourceAndItsValue(t *testing.T) {
	vals := map[string]float64{"a": 0, "b": 0}
	read := func(name string) func() (float64, error) {
		return func() (float64, error) { return vals[name], nil }
	}
	var logBuf bytes.Buffer
	m := New([]Resource{
		{Name: "a", Mark: Watermark{Normal: 5, Medium: 10, High: 20}, Read: read("a")},
		{Name: "b", Mark: Watermark{Normal: 50, Medium: 100, High: 200}, Read: read("b")},
	}, slog.New(slog.NewTextHandler(&logBuf, nil)), prometheus.NewRegistry())
	vals["a"], vals["b"] = 1, 250
	m.Check()
	vals["b"] = 7
	logBuf.Reset()
	if st := m.Check(); st.Level != Normal {
		t.Fatalf("%+v", st)
	}
	line := logBuf.String()
	if !strings.Contains(line, "level=normal") || !strings.Contains(line, "previous=high") ||
		!strings.Contains(line, "resource=b") || !strings.Contains(line, "value=7") || !strings.Contains(line, "level=INFO") {
		t.Errorf("fall to normal: %q; want INFO naming resource=b value=7", line)
	}
}
