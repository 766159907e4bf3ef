package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-4 (reread of the track count): the only tracking log file is read in part (a
// line over the reader's 1 MiB bound after the events): Partial counts it
// as read and as skipped, and track says "the events shown are from the
// other 1" — there is no other file; the events are from that file's
// readable part.
func TestTrackOnlyFileReadInPartNamesNoOtherFile(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.213"), freeAddr(t, "127.0.0.213")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	line := `{"time":"2026-01-01T00:00:00Z","event":"receive","message_id":"x"}` + "\n"
	long := `{"time":"2026-01-01T00:00:01Z","event":"receive","message_id":"y","note":"` + strings.Repeat("a", 2<<20) + `"}` + "\n"
	os.WriteFile(filepath.Join(data, "tracking.log"), []byte(line+long), 0o600)
	cmd := exec.Command(umbraBin, "--config", cfg, "track", "--message-id", "x")
	b, _ := cmd.CombinedOutput()
	out, code := string(b), cmd.ProcessState.ExitCode()
	t.Logf("exit %d:\n%s", code, out)
	if strings.Contains(out, "from the other 1") {
		t.Errorf("track with its only log file read in part: exit %d:\n%s\nit names another file that answered; there is none", code, out)
	}
}
