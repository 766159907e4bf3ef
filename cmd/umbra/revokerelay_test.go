package main

import (
	"os"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// rt21b L4, OPS-1, SMTP-3: a SIGHUP that takes a receive connector's
// relay right away reaches the sessions already open: the transaction in
// progress, whose outside recipient was accepted under the right, is
// refused at its DATA, before the body (451 4.7.1, nothing queued: send
// it again), and the next one is refused "Relay access denied" for an
// outside address and still takes the organisation's own.
func TestSIGHUPRevokedRelayReachesOpenSessions(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)

	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("x@outside.example", nil); err != nil {
		t.Fatalf("relay before the reload: %v", err)
	}

	orig, _ := os.ReadFile(cfg)
	revoked := strings.Replace(string(orig), "anonymous: [submit, relay]", "anonymous: [submit]", 1)
	if revoked == string(orig) {
		t.Fatal("the relay right is not in the test configuration")
	}
	os.WriteFile(cfg, []byte(revoked), 0o600)
	d.hup()
	waitCond(t, "the reload", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "configuration reloaded")
	})

	_, err = c.Data()
	if se, ok := err.(*gosmtp.SMTPError); !ok || se.Code != 451 || !strings.Contains(se.Message, "no longer permitted") {
		t.Fatalf("DATA of the transaction in progress, its recipient's relay right taken: %v; want 451 4.7.1 … no longer permitted", err)
	}
	for i := 0; i < 3; i++ {
		if err := c.Mail("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		err := c.Rcpt("after-revoke@outside.example", nil)
		if se, ok := err.(*gosmtp.SMTPError); !ok || se.Code != 550 || !strings.Contains(se.Message, "Relay access denied") {
			t.Fatalf("transaction %d after the reload, outside recipient: %v", i, err)
		}
		if err := c.Rcpt("bob@example.test", nil); err != nil {
			t.Fatalf("transaction %d after the reload, own recipient: %v", i, err)
		}
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
}
