package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS-1 (opsrt43 O5): the log names the signal that began a stop — at
// INFO, on the line the drain begins with — and a reload's start names
// its SIGHUP: `kill -INT` and a SIGTERM from outside were both only
// "draining: …" and "stopped". A real daemon, signalled from outside.
func TestOPS1StopAndReloadLogNameTheSignal(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		sig  syscall.Signal
		name string
	}{{syscall.SIGINT, "SIGINT"}, {syscall.SIGTERM, "SIGTERM"}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			listen, sink := freeAddr(t, "127.0.0.160"), reserveAddr(t, "127.0.0.160")
			cfg := relayConfig(t, dir, listen, sink)
			d := startUmbra(t, cfg, listen)
			d.dumpLogIfFailed()
			if c.sig == syscall.SIGTERM {
				if err := d.hup(); err != nil {
					t.Fatal(err)
				}
				waitCond(t, "the reload", 30*time.Second, func() bool {
					b, _ := os.ReadFile(d.log)
					return strings.Contains(string(b), "reloaded")
				})
				if line := logLineWith(t, d.log, "reloading"); !strings.Contains(line, "level=INFO") || !strings.Contains(line, "signal=SIGHUP") {
					t.Errorf("the reload's start line %q; want an INFO line naming signal=SIGHUP", line)
				}
			}
			d.cmd.Process.Signal(c.sig)
			select {
			case <-d.done:
				d.done <- nil
			case <-time.After(40 * time.Second):
				t.Fatalf("umbra did not stop after %s", c.name)
			}
			if line := logLineWith(t, d.log, "draining:"); !strings.Contains(line, "level=INFO") || !strings.Contains(line, "signal="+c.name) {
				t.Errorf("the stop's first line %q; want an INFO line naming signal=%s", line, c.name)
			}
		})
	}
}

// logLineWith is the first line of the log at path holding s, "" if none.
func logLineWith(t *testing.T, path, s string) string {
	t.Helper()
	b, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
