package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/admin"
)

// message export -o FILE --json writes FILE, as without --json, and
// prints the JSON verdict of that (fixh19 item 1: --json printed the
// message to standard output, wrote no file and exited 0, also for an
// existing FILE and a missing directory). An -o that cannot be written
// is refused as without --json: exit 1, FILE untouched.
func TestJSONExportWritesTheFileGiven(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink) // the smart host is down: the message waits
	startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	body := "From: a@example.org\r\nSubject: json export\r\n\r\nhello\r\n"
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

	out := filepath.Join(dir, "m.eml")
	got, code := cli(t, cfg, "--json", "message", "export", id, "-o", out)
	var v struct {
		ID    string `json:"id"`
		File  string `json:"file"`
		Bytes int64  `json:"bytes"`
	}
	if code != 0 || json.Unmarshal([]byte(got), &v) != nil {
		t.Fatalf("--json export -o: exit %d %q", code, got)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "Subject: json export") {
		t.Fatalf("--json export -o wrote no file: %v %q", err, b)
	}
	if v.ID != id || v.File != out || v.Bytes != int64(len(b)) || strings.Contains(got, "hello") {
		t.Errorf("--json export -o printed %q, want id, file and bytes (%d), no message", got, len(b))
	}

	// An existing file: refused, kept.
	os.WriteFile(out, []byte("keep"), 0o600)
	if code, errOut := cliErr(t, cfg, "--json", "message", "export", id, "-o", out); code != exitFailure || !strings.Contains(errOut, "the file exists; name a new file") {
		t.Errorf("--json export -o over a file: exit %d %q, want 1", code, errOut)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep" {
		t.Errorf("--json export -o replaced the file: %q", b)
	}
	// A missing directory: refused.
	missing := filepath.Join(dir, "nodir", "x.eml")
	if code, errOut := cliErr(t, cfg, "--json", "message", "export", id, "-o", missing); code != exitFailure || !strings.Contains(errOut, "does not exist") {
		t.Errorf("--json export -o into a missing directory: exit %d %q, want 1", code, errOut)
	}
}

// OPS-3 (rt33c F7): message export ID -o FILE printed nothing on
// success, while the README counts it among the commands with a
// success line of a file given: it names the id, FILE and its size.
func TestOPS3ExportToFilePrintsASuccessLine(t *testing.T) {
	dir := t.TempDir()
	listen, sink := "127.0.0.174:13174", "127.0.0.174:13175"
	cfg := relayConfig(t, dir, listen, sink) // the smart host is down: the message waits
	startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader("Subject: line\r\n\r\nhello\r\n")); err != nil {
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
	out := filepath.Join(dir, "m.eml")
	got, code := cli(t, cfg, "message", "export", ms[0].ID, "-o", out)
	fi, err := os.Stat(out)
	if code != 0 || err != nil || !strings.Contains(got, ms[0].ID) || !strings.Contains(got, out) || strings.Contains(got, "hello") ||
		strings.Count(got, "\n") != 1 {
		t.Errorf("export -o: exit %d, stdout %q (%v); want one success line naming %s and %s", code, got, err, ms[0].ID, out)
	}
	_ = fi
}
