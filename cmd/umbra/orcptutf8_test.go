package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// SMTP-1, RFC 6533 §3, umbra to umbra (rt27b F1): a client's utf-8 ORCPT
// in a transaction without SMTPUTF8 (as xtext, \x{E9}) is relayed by
// umbra A to umbra B, which offers SMTPUTF8, in the xtext form: B takes
// the recipient (raw UTF-8 there would get 501 5.5.4, the recipient
// would fail and the sender get a DSN) and passes the message on. Real
// processes, the last hop a plain SMTP host that records what it got.
func TestDaemonUTF8OrcptRelayedToAnotherUmbra(t *testing.T) {
	const sinkAddr, aAddr, bAddr = "127.0.0.124:7124", "127.0.0.125:7125", "127.0.0.126:7126"
	sink := startPlainHost(t, sinkAddr, "sink.test")
	dirB := t.TempDir()
	cfgB := strings.Replace(umbraTestHub(dirB, "transport:\n  retry_schedule: [1h]\n", bAddr, "submit, relay", "max_acknowledgement_delay: 0s",
		"out", fmt.Sprintf("smart_hosts: [%q]\ntls: none", sinkAddr), noMTASTS), "name: hub.umbra.test", "name: b.umbra.test", 1)
	b := startUmbra(t, writeConfig(t, dirB, cfgB), bAddr)
	b.dumpLogIfFailed()
	dirA := t.TempDir()
	a := startUmbra(t, umbraHub(t, dirA, aAddr, "1h", "out", fmt.Sprintf("smart_hosts: [%q]\ntls: none", bAddr), noMTASTS), aAddr)
	a.dumpLogIfFailed()

	c, err := gosmtp.Dial(aAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("f1@outside.example", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure},
		// Written as xtext by hand: go-smtp's client, like umbra's before,
		// would send raw UTF-8 to a server that offers SMTPUTF8.
		OriginalRecipientType: gosmtp.DSNAddressTypeUTF8, OriginalRecipient: `a\x{E9}@b.test`}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: f1\r\n\r\nb\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	for {
		mails, bodies := sink.got()
		for _, m := range mails {
			if strings.HasPrefix(m, "MAIL FROM:<>") {
				t.Fatalf("a DSN reached the last hop: %q\n%q", m, bodies)
			}
		}
		if len(bodies) > 0 {
			if !strings.Contains(bodies[0], "Subject: f1") {
				t.Fatalf("the last hop got %q", bodies)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing reached the last hop (MAIL lines %q)", mails)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
