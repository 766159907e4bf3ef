package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// SMTP-1 (RFC 6531 §3.2; rt29b F1): the one smart host offers no
// SMTPUTF8. A message said SMTPUTF8 at MAIL, with an ASCII sender, ASCII
// header fields and body, to an internationalised recipient and an ASCII
// one: the ASCII recipient is delivered (a transaction without
// SMTPUTF8), only the internationalised one bounces, and the DSN and
// the daemon's log state the one same reason.
func TestDaemonIDNRecipientBouncesAlone(t *testing.T) {
	smart := freeAddr(t, "127.0.0.172")
	host := startPlainHost(t, smart, "smart.test")
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.173")
	cfgPath := umbraHub(t, dir, listen, "1h", "outside", fmt.Sprintf("smart_hosts: [%q]\ntls: none", smart), noMTASTS)
	d := startUmbra(t, cfgPath, listen)
	d.dumpLogIfFailed()
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("x@other.example", &gosmtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"idn@bücher.example", "anna@outside.example"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: <x@other.example>\r\nSubject: plain\r\n\r\nhello\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	const reason = "553 5.6.7 the recipient's address is not ASCII, and the next hop does not support SMTPUTF8"
	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	for {
		mails, bodies := host.got()
		if len(bodies) >= 2 {
			var msg, dsn string
			for i, m := range mails {
				switch {
				case strings.HasPrefix(m, "MAIL FROM:<x@other.example>"):
					if strings.Contains(strings.ToUpper(m), "SMTPUTF8") {
						t.Errorf("the message went with %q", m)
					}
					msg = bodies[i]
				case strings.HasPrefix(m, "MAIL FROM:<>"):
					dsn = bodies[i]
				}
			}
			if msg == "" || dsn == "" || len(bodies) != 2 {
				t.Fatalf("the smart host got %q", mails)
			}
			if !strings.Contains(strings.ReplaceAll(dsn, "=\r\n", ""), ": "+reason) || strings.Contains(dsn, "Diagnostic-Code:") || strings.Contains(dsn, "anna@outside.example") {
				t.Errorf("DSN:\n%s", dsn)
			}
			if strings.Contains(dsn, "not permitted") {
				t.Errorf("the DSN gives a second reason:\n%s", dsn)
			}
			b, _ := os.ReadFile(d.log)
			if !strings.Contains(string(b), reason) {
				t.Errorf("the daemon's log does not state %q", reason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the smart host got %q", mails)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
