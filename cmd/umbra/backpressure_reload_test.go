package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// back_pressure applies on SIGHUP (issue 18): lowered watermarks put
// the queued mail over medium and MAIL gets 452 4.3.1; raised again, the
// level falls back and mail is accepted, without a restart. Turning it
// off is named as needing a restart.
func TestBackPressureReload(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: mail stays queued
	base, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write := func(bp string) {
		t.Helper()
		if err := os.WriteFile(cfg, append(append([]byte(nil), base...), bp...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("back_pressure:\n  check_interval: 100ms\n  total_queue: {normal: 100, medium: 200, high: 300}\n")
	d := startUmbra(t, cfg, listen)
	defer d.kill()
	if acked := sendMany(listen, "bpr", 2, 1, nil); len(acked) != 2 {
		t.Fatalf("acknowledged %d of 2", len(acked))
	}
	reloads := 0
	hup := func() {
		t.Helper()
		reloads++
		d.hup()
		waitCond(t, "the reload", 30*time.Second, func() bool {
			b, _ := os.ReadFile(d.log)
			return strings.Count(string(b), `msg="configuration reloaded"`) >= reloads
		})
	}
	write("back_pressure:\n  check_interval: 100ms\n  total_queue: {normal: 1, medium: 2, high: 3}\n")
	hup()
	waitCond(t, "back pressure to reach medium", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "list")
		return strings.Contains(out, "Back pressure: medium (total_queue at 2); watermarks normal 1, medium 2, high 3")
	})
	c := rawDial(t, listen)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<s@example.org>", "452 4.3.1")
	c.cmd("QUIT", "221")
	// The reload logs the settings applied after it set the marks, and
	// the monitor's own check (every 100 ms) can show the level first.
	waitLogCount(t, d, "back pressure settings applied", 1)

	write("back_pressure:\n  check_interval: 100ms\n  total_queue: {normal: 100, medium: 200, high: 300}\n")
	hup()
	waitCond(t, "back pressure to return to normal", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "list")
		return strings.Contains(out, "Back pressure: normal")
	})
	if r := rawSend(t, listen, "s@example.org", []string{"x@example.net"}, "Subject: accepted\r\n\r\nx"); !strings.HasPrefix(r, "250") {
		t.Fatalf("MAIL after the watermarks were raised: %q", r)
	}

	write("back_pressure:\n  enabled: false\n")
	hup()
	waitCond(t, "turning back pressure off to be named as needing a restart", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "back_pressure.enabled")
	})
}
