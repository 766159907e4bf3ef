package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// TestBackupPartialWriterChild is the backup writer the test below
// kills: SaveBackup to UMBRA_PARTIAL_TARGET, whose copy writes a page
// and then waits to be killed, as a db backup killed mid-copy does.
func TestBackupPartialWriterChild(t *testing.T) {
	target := os.Getenv("UMBRA_PARTIAL_TARGET")
	if target == "" {
		t.Skip("run by TestBackupRemovesPartialOfKilledBackup")
	}
	queue.SaveBackup(target, func(w io.Writer) (int64, error) {
		n, err := w.Write(make([]byte, 4096))
		if err != nil {
			return int64(n), err
		}
		time.Sleep(time.Minute) // killed here
		return int64(n), nil
	})
}

// A db backup that is killed (kill -9) leaves its hidden partial copy
// .FILE.partial-PID-N; the next db backup to that file removes it and
// says so (text on standard error, --json removed_partials), while the
// partial copy of a backup whose process still runs, and one an older
// release named without a pid, are left alone (the latter said). OPS-
// (db backup): each interrupted try no longer leaves another hidden
// copy of the whole database.
func TestBackupRemovesPartialOfKilledBackup(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	startUmbra(t, cfg, listen)
	bk := filepath.Join(dir, "bk")
	if err := os.Mkdir(bk, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(bk, "b.db")
	writer := func() *exec.Cmd {
		c := exec.Command(os.Args[0], "-test.run=^TestBackupPartialWriterChild$", "-test.timeout=2m")
		c.Env = append(os.Environ(), "UMBRA_PARTIAL_TARGET="+target)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	partials := func() []string {
		m, _ := filepath.Glob(filepath.Join(bk, ".b.db.partial-*"))
		return m
	}
	waitPartials := func(n int) []string {
		deadline := time.Now().Add(30 * time.Second)
		for len(partials()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("partial copies: %v, want %d", partials(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return partials()
	}
	// A backup that still runs, then one killed: the second's own
	// start leaves the first's partial copy alone (its writer lives).
	live := writer()
	livePartial := waitPartials(1)[0]
	k := writer()
	waitPartials(2)
	k.Process.Kill()
	k.Wait()
	var killed []string
	for _, p := range partials() {
		if p != livePartial {
			killed = append(killed, p)
		}
	}
	if len(killed) != 1 {
		t.Fatalf("partial copies: %v", partials())
	}
	legacy := filepath.Join(bk, ".b.db.partial-1888522370")
	if err := os.WriteFile(legacy, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(umbraBin, "--config", cfg, "db", "backup", "--json", target)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("db backup: %v %s %s", err, out, stderr.String())
	}
	var res struct {
		Removed []queue.StalePartial `json:"removed_partials"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Removed) != 1 {
		t.Fatalf("db backup --json: %s (%v)", out, err)
	}
	for _, k := range killed {
		if _, err := os.Lstat(k); err == nil {
			t.Errorf("%s (its writer killed) is still there", k)
		}
		if !strings.Contains(stderr.String(), "removed "+k) {
			t.Errorf("stderr does not name %s: %q", k, stderr.String())
		}
	}
	if _, err := os.Lstat(livePartial); err != nil {
		t.Errorf("the partial copy %q of a live backup was touched: %v", livePartial, err)
	}
	if _, err := os.Lstat(legacy); err != nil || !strings.Contains(stderr.String(), "left "+legacy) {
		t.Errorf("the older release's partial copy: %v, stderr %q", err, stderr.String())
	}
	if _, err := os.Lstat(target); err != nil {
		t.Fatalf("the backup itself: %v", err)
	}
	live.Process.Kill()
	live.Wait()
}
