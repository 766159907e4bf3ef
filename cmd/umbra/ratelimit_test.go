package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func rateConfig(dir, listen string, messages int) string {
	return fmt.Sprintf(`server: {name: mx.rate.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}]
mailbox: {maildir: maildir}
receive_connectors:
  - name: internet
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    max_acknowledgement_delay: 0s
    rate_limits:
      address: {messages: %d, window: 1h}
`, filepath.Join(dir, "data"), listen, messages)
}

// mails opens one session and returns the reply to each
// of n MAIL commands (RSET between).
func mails(t *testing.T, addr string, n int) []string {
	t.Helper()
	c := rawDial(t, addr)
	c.cmd("EHLO client.example", "250")
	var out []string
	for i := 0; i < n; i++ {
		l := c.cmd("MAIL FROM:<s@example.org>", "")
		out = append(out, l[len(l)-1])
		c.cmd("RSET", "250")
	}
	c.cmd("QUIT", "")
	return out
}

// EDGE-1 rate limits: a MAIL over the address's limit gets 450 4.7.1;
// a reload (SIGHUP) that raises the limit keeps the count (one more
// message, not a fresh allowance); a restart restores the counts from
// the transport database.
func TestRateLimitsSurviveReloadAndRestart(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.92")
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte(rateConfig(dir, listen, 3)), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	want := func(what string, got []string, prefixes ...string) {
		t.Helper()
		for i, p := range prefixes {
			if !strings.HasPrefix(got[i], p) {
				t.Fatalf("%s: MAIL %d got %q, want %s (all: %q)", what, i+1, got[i], p, got)
			}
		}
	}
	want("limit 3", mails(t, listen, 4), "250", "250", "250", "450 4.7.1")

	os.WriteFile(cfg, []byte(rateConfig(dir, listen, 4)), 0o600)
	d.hup()
	waitCond(t, "the reload", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "configuration reloaded")
	})
	want("limit 4 after reload", mails(t, listen, 2), "250", "450 4.7.1")

	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
	case <-time.After(30 * time.Second):
		t.Fatal("umbra did not stop on SIGTERM")
	}
	d = startUmbra(t, cfg, listen)
	want("after restart", mails(t, listen, 1), "450 4.7.1")
	b, _ := os.ReadFile(d.log)
	if !strings.Contains(string(b), "rate counters restored") {
		t.Fatal("no restore in the log")
	}
}
