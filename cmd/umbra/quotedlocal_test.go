package main

import (
	"slices"
	"testing"
	"time"
)

// SMTP-1 (RFC 5321 §4.1.2; rt29b F3): a quoted local part with a space
// or quoted-pairs is an address: RCPT takes it, the queue keeps it and
// the next hop gets it quoted as it must be. Real processes over
// loopback.
func TestDaemonQuotedLocalPartRelayedQuoted(t *testing.T) {
	dir := t.TempDir()
	hop, hopAddr := startRcptHop(t, "127.0.0.174:0")
	listen := freeAddr(t, "127.0.0.175")
	d := startUmbra(t, relayConfig(t, dir, listen, hopAddr), listen)
	d.dumpLogIfFailed()
	c := rawDial(t, listen)
	c.cmd("EHLO client.test", "250")
	c.cmd(`MAIL FROM:<"x y"@example.org>`, "250")
	want := []string{`"an na"@good.test`, `"a \"b\" \\c"@good.test`}
	for _, r := range want {
		c.cmd("RCPT TO:<"+r+">", "250")
	}
	c.cmd("DATA", "354")
	c.cmd("Subject: quoted\r\n\r\nhi\r\n.", "250")
	c.cmd("QUIT", "221")
	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	var got []string
	for time.Now().Before(deadline) {
		if got = hop.received(); len(got) >= len(want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("next hop was given RCPT TO %q, want %q", got, want)
	}
}
