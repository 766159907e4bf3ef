package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/admin"
)

// The operator sees a spooled message's file in `message show` (name,
// recorded length, whether the file holds it), and `message export` of
// a message whose spool file was cut short writes nothing — no partial
// .eml in --output's place nor on standard output — and exits non-zero
// with the reason.
func TestMessageShowAndExportOfDamagedSpoolFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink) // the smart host is down: the message waits
	startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	body := "From: a@example.org\r\nSubject: spooled\r\n\r\n" + strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz 0123456789\r\n", 12000) // 600 kB: past spool_threshold
	if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var ms []admin.MessageView
	for deadline := time.Now().Add(30 * time.Second); len(ms) != 1; {
		out, _ := cli(t, cfg, "message", "list", "--json")
		json.Unmarshal([]byte(out), &ms)
		if time.Now().After(deadline) {
			t.Fatalf("message list: %s", out)
		}
	}
	id := ms[0].ID
	show := func() admin.MessageView {
		t.Helper()
		out, code := cli(t, cfg, "message", "show", "--json", id)
		var v admin.MessageView
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("show --json: exit %d %s", code, out)
		}
		return v
	}
	v := show()
	if v.Spool == nil || v.Spool.File == "" || !v.Spool.Present || !v.Spool.Whole || v.Spool.Length < 500000 {
		t.Fatalf("show --json of a spooled message: spool %+v", v.Spool)
	}
	if out, code := cli(t, cfg, "message", "show", id); code != 0 || !strings.Contains(out, "spool file: "+v.Spool.File) || !strings.Contains(out, "present, full length; its checksum is checked when it is read") {
		t.Fatalf("show: exit %d\n%s", code, out)
	}
	whole := filepath.Join(dir, "whole.eml")
	if _, code := cli(t, cfg, "message", "export", "-o", whole, id); code != 0 {
		t.Fatalf("export -o: exit %d", code)
	}
	if fi, err := os.Stat(whole); err != nil || fi.Size() < int64(len(body)) {
		t.Fatalf("export -o wrote %v, %v", fi, err)
	}
	// An existing file is never replaced (rt45 F2's class): -o naming
	// the configuration or the transport database, by a slip, renamed
	// the message over it.
	// The live queue.db changes under the daemon's own commits: it is
	// compared as the same file (a rename over it is another), the
	// others byte for byte too.
	for _, over := range []string{cfg, filepath.Join(dir, "data", "queue.db"), whole} {
		before, _ := os.ReadFile(over)
		beforeFI, err := os.Stat(over)
		if err != nil {
			t.Fatal(err)
		}
		if code, errOut := cliErr(t, cfg, "message", "export", "-o", over, id); code != exitFailure || !strings.Contains(errOut, "the file exists; name a new file") {
			t.Errorf("export -o over %s: exit %d %q", over, code, errOut)
		}
		afterFI, err := os.Stat(over)
		if err != nil || !os.SameFile(beforeFI, afterFI) {
			t.Errorf("export -o replaced %s: %v", over, err)
		}
		if after, _ := os.ReadFile(over); !strings.HasSuffix(over, "queue.db") && !bytes.Equal(before, after) {
			t.Errorf("export -o rewrote %s", over)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".umbra-export-*")); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}

	spoolFile := filepath.Join(dir, "data", "spool", v.Spool.File)
	if err := os.Truncate(spoolFile, 100000); err != nil {
		t.Fatal(err)
	}
	v = show()
	if v.Spool == nil || v.Spool.Whole || !strings.Contains(v.Spool.Problem, "100000 bytes") {
		t.Fatalf("show --json of a cut spool file: %+v", v.Spool)
	}
	if out, _ := cli(t, cfg, "message", "show", id); !strings.Contains(out, "DAMAGED") {
		t.Fatalf("show of a cut spool file:\n%s", out)
	}
	cut := filepath.Join(dir, "cut.eml")
	// Exit 1, not 4 ("in delivery, try again"): no retry brings the
	// content back.
	if code, errOut := cliErr(t, cfg, "message", "export", "-o", cut, id); code != exitFailure || !strings.Contains(errOut, "unreadable") {
		t.Fatalf("export -o of a cut spool file: exit %d %q", code, errOut)
	}
	if _, err := os.Stat(cut); !os.IsNotExist(err) {
		t.Fatalf("export -o of a cut spool file left %s: %v", cut, err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".umbra-export-*")); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	cmd := exec.Command(umbraBin, "--config", cfg, "message", "export", id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailure || len(out) != 0 || !strings.Contains(stderr.String(), "unreadable") {
		t.Fatalf("export to stdout of a cut spool file: %v, %d bytes on stdout, %q", err, len(out), stderr.String())
	}
}
