package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

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

// The same for message export -o: the hidden copy a killed export left
// (a message body) is removed by the next export into that directory
// and said on stderr; one a live export writes (locked) is left alone.
func TestExportRemovesCopyOfKilledExport(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader("From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var ms []struct{ ID string }
	out, code := cli(t, cfg, "message", "list", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
		t.Fatalf("message list: exit %d %s", code, out)
	}
	// A process that is gone: its pid names no live process now.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	ex := filepath.Join(dir, "ex")
	os.Mkdir(ex, 0o700)
	stale := filepath.Join(ex, fmt.Sprintf(".umbra-export-%d-123.eml", gone.Process.Pid))
	if err := os.WriteFile(stale, []byte("Subject: x\r\n\r\nbody\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A live export's copy: its writer holds its lock (rr25 F3).
	lf, err := queue.CreateTemp(ex, queue.MarkedTemp(".umbra-export-")+"*.eml")
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lf.WriteString("Subject: x\r\n\r\nbody\r\n")
	live := lf.Name()
	cmd := exec.Command(umbraBin, "--config", cfg, "message", "export", "-o", filepath.Join(ex, "m.eml"), ms[0].ID)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("message export: %v %s", err, stderr.String())
	}
	if _, err := os.Lstat(stale); err == nil || !strings.Contains(stderr.String(), "removed "+stale) {
		t.Errorf("the killed export's copy: %v, stderr %q", err, stderr.String())
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("a live export's copy was touched: %v", err)
	}
}
