package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-4 (track by time): a --since or --until longer than the longest Go
// duration (about 292 years: 107000d, 9999999999h) is a time before every
// event, never taken as if the flag had not been given: --since such a
// time finds every event, --until such a time finds none.
func TestTrackWindowLongerThanAnyDuration(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.214"), freeAddr(t, "127.0.0.214")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	line := `{"time":"2026-01-01T00:00:00Z","event":"admin","message_id":"x"}` + "\n"
	os.WriteFile(filepath.Join(data, "tracking.log"), []byte(line), 0o600)
	run := func(args ...string) (string, int) {
		cmd := exec.Command(umbraBin, append([]string{"--config", cfg, "track", "--json"}, args...)...)
		b, _ := cmd.CombinedOutput()
		return string(b), cmd.ProcessState.ExitCode()
	}
	for _, d := range []string{"107000d", "200000d", "9999999999h", "99999999999999999999s"} {
		if out, code := run("--since", d, "--limit", "1"); code != 0 || !strings.Contains(out, `"message_id": "x"`) {
			t.Errorf("track --since %s: exit %d:\n%s\nwant the event (every event is after it)", d, code, out)
		}
		if out, code := run("--event", "admin", "--until", d); strings.Contains(out, `"message_id": "x"`) || code != 0 && code != 64 {
			t.Errorf("track --event admin --until %s: exit %d:\n%s\nwant no event (none is before it)", d, code, out)
		}
	}
}
