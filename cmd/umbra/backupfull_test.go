package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// db backup onto a file system without room (rt21c M1): the error names
// the file as given and says its disk is full, never the temporary file
// beside it, and does not send the operator to the daemon's log; the
// daemon's audit line says the command stopped reading, not a broken pipe
// of its own.
func TestBackupOntoFullDiskNamesTarget(t *testing.T) {
	dir := t.TempDir()
	bk := filepath.Join(dir, "bk")
	os.MkdirAll(bk, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", bk).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a small tmpfs in CI: %v %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", bk).Run() })
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1")) // the smart host is down: the messages wait
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for i := range 4 {
		submitReply(t, listen, "full-backup-"+string(rune('a'+i)), 100<<10)
	}
	fillDisk(t, bk)
	target := filepath.Join(bk, "b.db")
	for _, args := range [][]string{{"db", "backup", target}, {"--json", "db", "backup", target}} {
		code, errOut := cliErr(t, cfg, args...)
		want := "backup " + target + ": no space left on device"
		if code != exitFailure || !strings.Contains(errOut, want) || strings.Contains(errOut, ".partial") ||
			strings.Contains(errOut, "closed the connection") || strings.Contains(errOut, "its log") {
			t.Fatalf("umbra %s: exit %d %q\nwant exit %d and %q, no temporary file, no blame on the daemon", strings.Join(args, " "), code, errOut, exitFailure, want)
		}
	}
	// The sibling: message export -o onto the same full disk.
	out, code := cli(t, cfg, "message", "list", "--json")
	var list []struct {
		ID string `json:"id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) == 0 {
		t.Fatalf("message list: exit %d %s", code, out)
	}
	eml := filepath.Join(bk, "m.eml")
	code, errOut := cliErr(t, cfg, "message", "export", list[0].ID, "-o", eml)
	if want := "message export -o " + eml + ": no space left on device"; code != exitFailure || !strings.Contains(errOut, want) ||
		strings.Contains(errOut, ".umbra-export") || strings.Contains(errOut, "incomplete") || strings.Contains(errOut, "its log") {
		t.Errorf("message export -o onto a full disk: exit %d %q\nwant exit %d and %q, nothing said of the daemon", code, errOut, exitFailure, want)
	}
	ents, _ := os.ReadDir(bk)
	for _, e := range ents {
		if e.Name() != "filler" {
			t.Errorf("left behind in the full directory: %s", e.Name())
		}
	}
	// Two commands: each has the daemon's line of the copy it cut short
	// and the line of the command's own reason.
	var cut, reason int
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (cut < 2 || reason < 2) {
		cut, reason = 0, 0
		b, _ := os.ReadFile(d.log)
		for _, l := range strings.Split(string(b), "\n") {
			switch {
			case strings.Contains(l, "database backup (") && strings.Contains(l, "broken pipe"):
				t.Fatalf("the daemon blames a broken pipe: %s", l)
			case strings.Contains(l, "database backup (") && strings.Contains(l, "the command stopped reading"):
				cut++
			case strings.Contains(l, "database backup not kept by the command") && strings.Contains(l, "backup "+target+": no space left on device"):
				reason++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cut != 2 || reason != 2 {
		t.Errorf("audit: %d lines of a copy the command stopped reading, %d of its reason (a full disk); want 2 and 2", cut, reason)
	}
}
