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

// trackConfig is a daemon's configuration for umbra track to read, and
// the directory of its tracking log, made.
func trackConfig(t *testing.T) (string, *config.Config) {
	t.Helper()
	cfgPath := relayConfig(t, t.TempDir(), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Tracking.Path), 0o700); err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg
}

// umbra track with one rotated log file that is a FIFO: the file is
// skipped with a warning naming it, the events of the others are shown,
// and the exit status (5) says the answer is partial. Before, the whole
// search failed on the FIFO.
func TestTrackSkipsUnreadableFile(t *testing.T) {
	cfgPath, cfg := trackConfig(t)
	if !cfg.Tracking.Enabled || cfg.Tracking.MaxFiles < 2 {
		t.Fatalf("the test's configuration keeps no rotated tracking files: %+v", cfg.Tracking)
	}
	path := cfg.Tracking.Path
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

// umbra track that stops at --limit says so on stderr, as message list
// does, naming the time of the oldest event shown: a table that starts
// late does not look complete. An answer within the limit says nothing.
func TestTrackSaysLimit(t *testing.T) {
	cfgPath, cfg := trackConfig(t)
	path := cfg.Tracking.Path
	var b strings.Builder
	t0 := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	for i := range 5 {
		b.WriteString(`{"time":"` + t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339) + `","event":"receive","msg_id":"m` + string(rune('0'+i)) + `"}` + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := umbraIn(t, t.TempDir(), nil, "-c", cfgPath, "track", "--json", "--since", "1h", "--limit", "3")
	var es []tracking.Entry
	if err := json.Unmarshal([]byte(out), &es); err != nil || len(es) != 3 || es[0].ID != "m2" || es[2].ID != "m4" {
		t.Fatalf("events %s (%v), want the newest three", out, err)
	}
	if code != 0 || !strings.Contains(errOut, "limit of 3") || !strings.Contains(errOut, "--limit") {
		t.Errorf("exit %d, stderr %q: want 0 and the limit said", code, errOut)
	}
	out, errOut, code = umbraIn(t, t.TempDir(), nil, "-c", cfgPath, "track", "--since", "1h", "--limit", "5")
	if code != 0 || errOut != "" || strings.Count(out, "receive") != 5 {
		t.Errorf("within the limit: exit %d, stderr %q, out %s", code, errOut, out)
	}
}

// umbra track shows a byte of a next hop's reply that is not UTF-8 as
// \xNN, in the table and with --json, as every other admin answer does
// (before, the tracking log wrote U+FFFD in its place); a line an older
// version wrote with U+FFFD still shows.
func TestTrackShowsInvalidBytes(t *testing.T) {
	cfgPath, cfg := trackConfig(t)
	path := cfg.Tracking.Path
	now := time.Now().UTC()
	old := `{"time":"` + now.Add(-time.Minute).Format(time.RFC3339) + `","event":"defer","msg_id":"old","sender":"a@example.org","reply":"450 old caf\ufffd"}` + "\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := tracking.Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(tracking.Entry{Time: now, Event: "defer", ID: "new", Sender: "a@example.org", Recipients: []string{"b@remote.example"},
		NextHop: "127.0.0.1:25", Reply: "450 4.2.0 caf\xe9 busy"})
	l.Close()

	out, errOut, code := umbraIn(t, t.TempDir(), nil, "-c", cfgPath, "track", "--event", "defer", "--since", "1h")
	if code != 0 || !strings.Contains(out, `450 4.2.0 caf\xe9 busy`) || strings.Count(out, "\ufffd") != 1 || !strings.Contains(out, "450 old caf\ufffd") {
		t.Fatalf("exit %d, table:\n%s%s\nwant the new reply with \\xe9 and the old one as written", code, out, errOut)
	}
	out, errOut, code = umbraIn(t, t.TempDir(), nil, "-c", cfgPath, "track", "--json", "--event", "defer", "--since", "1h")
	var es []tracking.Entry
	if err := json.Unmarshal([]byte(out), &es); err != nil || code != 0 || len(es) != 2 {
		t.Fatalf("exit %d, --json %s%s (%v)", code, out, errOut, err)
	}
	if es[0].Reply != "450 old caf\ufffd" || es[1].Reply != `450 4.2.0 caf\xe9 busy` {
		t.Fatalf("--json replies %q, %q: want the old as written, the new with \\xe9", es[0].Reply, es[1].Reply)
	}
}

// umbra track on a log line umbra did not write (a raw byte that is not
// UTF-8, a torn line): the byte shows as \xNN, as umbra logs it, not as
// U+FFFD, and the lines that are no event are named on stderr (count,
// first line) with exit 5, not skipped silently.
func TestTrackDamagedLog(t *testing.T) {
	cfgPath, cfg := trackConfig(t)
	path := cfg.Tracking.Path
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	lines := `{"time":"` + ts + `","event":"receive","msg_id":"raw","sender":"s` + "\xe9" + `@ex.test"}` + "\n" +
		"garbage line\n" +
		`{"time":"` + ts + `","event":"receive","msg_id":"esc","sender":"` + "\x1b" + `@ex.test"}` + "\n" +
		`{"time":"` + ts + `","event":"receive","msg_id":"ok","sender":"ok@ex.test"}` + "\n"
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := umbraIn(t, t.TempDir(), nil, "-c", cfgPath, "track", "--since", "1h")
	if code != exitSkipped || !strings.Contains(out, `s\xe9@ex.test`) || strings.Contains(out, "\ufffd") || !strings.Contains(out, "ok@ex.test") {
		t.Fatalf("exit %d, table:\n%s%s\nwant the raw byte as \\xe9 and exit %d", code, out, errOut, exitSkipped)
	}
	if !strings.Contains(errOut, path) || !strings.Contains(errOut, "2 lines skipped") || !strings.Contains(errOut, "line 2") {
		t.Fatalf("stderr %q: want the file, 2 lines and the first at line 2", errOut)
	}
	out, _, code = umbraIn(t, t.TempDir(), nil, "-c", cfgPath, "track", "--json", "--since", "1h")
	var es []tracking.Entry
	if err := json.Unmarshal([]byte(out), &es); err != nil || code != exitSkipped || len(es) != 2 || es[0].Sender != `s\xe9@ex.test` {
		t.Fatalf("exit %d, --json %s (%v)", code, out, err)
	}
}
