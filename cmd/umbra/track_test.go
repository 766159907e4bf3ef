package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/tracking"
)

// umbra track with one rotated log file that is a FIFO: the file is
// skipped with a warning naming it, the events of the others are shown,
// and the exit status (5) says the answer is partial. Before, the whole
// search failed on the FIFO.
func TestTrackSkipsUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := relayConfig(t, dir, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Tracking.Enabled || cfg.Tracking.MaxFiles < 2 {
		t.Fatalf("the test's configuration keeps no rotated tracking files: %+v", cfg.Tracking)
	}
	path := cfg.Tracking.Path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	line := func(id string) string {
		return `{"time":"` + time.Now().UTC().Format(time.RFC3339) + `","event":"receive","msg_id":"` + id + `"}` + "\n"
	}
	if err := os.WriteFile(path, []byte(line("current")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".2", []byte(line("rotated")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path+".1", 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := umbraIn(t, t.TempDir(), nil, "-c", cfgPath, "track", "--json", "--event", "receive", "--since", "1h")
	var es []tracking.Entry
	if err := json.Unmarshal([]byte(out), &es); err != nil || len(es) != 2 || es[0].ID != "rotated" || es[1].ID != "current" {
		t.Fatalf("events %s (%v), want those of the readable files", out, err)
	}
	if code != exitSkipped || !strings.Contains(errOut, path+".1") || !strings.Contains(errOut, "skipped") {
		t.Fatalf("exit %d, stderr %s: want %d and the FIFO named", code, errOut, exitSkipped)
	}
}
