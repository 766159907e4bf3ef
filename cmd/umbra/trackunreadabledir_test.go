package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-4, OPS-5 (rt28c F5): umbra track run by a user who may not search
// the data directory warned once per guessed name — tracking.log.10 …
// .1 and tracking.log, "11 tracking log file(s) skipped" — though only
// tracking.log exists. The directory is said once, with its error.
func TestTrackUnreadableDirectorySaidOnce(t *testing.T) {
	needRoot(t) // to run the command as another user
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.163"), freeAddr(t, "127.0.0.163")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	os.Chmod(cfg, 0o644)
	for _, p := range []string{filepath.Dir(umbraBin), dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o755)
	}
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "tracking.log"), []byte(`{"time":"2026-01-01T00:00:00Z","event":"receive","message_id":"x"}`+"\n"), 0o600)
	out, code := cliAs(t, nobody, cfg, "track", "--message-id", "x")
	if n := strings.Count(out, "warning:"); n != 1 || !strings.Contains(out, data) || !strings.Contains(out, "permission denied") ||
		strings.Contains(out, "tracking.log.10") || strings.Contains(out, "11 tracking log") || code == 0 {
		t.Errorf("track as a user who may not search the data directory: exit %d, %d warnings:\n%s\nwant one naming %s and its error", code, n, out, data)
	}
}

// OPS-4 (rt29c F9): the data directory searchable but the only tracking
// log file unreadable for the user: track said "the events shown are
// from the others" under an empty table — there were no others. It says
// no event could be read; with a readable rotation beside it, it names
// how many files answered.
func TestTrackOnlyFileUnreadableSaysNoEventsRead(t *testing.T) {
	needRoot(t) // to run the command as another user
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.163"), freeAddr(t, "127.0.0.163")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	os.Chmod(cfg, 0o644)
	for _, p := range []string{filepath.Dir(umbraBin), dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o755)
	}
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	line := []byte(`{"time":"2026-01-01T00:00:00Z","event":"receive","message_id":"x"}` + "\n")
	os.WriteFile(filepath.Join(data, "tracking.log"), line, 0o600)
	out, code := cliAs(t, nobody, cfg, "track", "--message-id", "x")
	if !strings.Contains(out, "no events could be read") || strings.Contains(out, "from the other") || code == 0 {
		t.Errorf("track with its only log file unreadable: exit %d:\n%s\nwant: no events could be read", code, out)
	}
	os.WriteFile(filepath.Join(data, "tracking.log.1"), line, 0o644)
	out, code = cliAs(t, nobody, cfg, "track", "--message-id", "x")
	if !strings.Contains(out, "the events shown are from the other 1") || code == 0 {
		t.Errorf("track with one of two log files unreadable: exit %d:\n%s\nwant the events from the other 1", code, out)
	}
}
