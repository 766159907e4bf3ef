package main

import (
	"strings"
	"testing"
)

// A redirect target written as an address literal is read by the one
// reader of literals (mailaddr.ParseLiteral): "[IPv6:1.2.3.4]" and a
// tagged zone are no target, refused as usage errors (exit 64) before
// anything is looked up or moved, as RCPT and HELO refuse them.
func TestQueueRedirectLiteralTarget(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	startUmbra(t, cfg, listen)
	for _, to := range []string{"[IPv6:1.2.3.4]", "[IPv6:1.2.3.4]:25", "[IPv6:fe80::1%eth0]"} {
		out, errOut, code := cliAll(t, cfg, "queue", "redirect", "smarthost:sink", "--to", to)
		if code != exitUsage || !strings.Contains(errOut, "IPv6 address") {
			t.Errorf("queue redirect --to %s: exit %d, want %d naming what is wrong\n%s%s", to, code, exitUsage, out, errOut)
		}
	}
}
