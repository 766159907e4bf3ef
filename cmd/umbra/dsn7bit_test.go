package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// NEW-2: the one smart host for everything outside offers neither
// 8BITMIME nor SMTPUTF8. An outside sender's SMTPUTF8 message with a
// UTF-8 Subject fails there (5.6.7) and its DSN goes back to the sender
// through the same smart host: it must be 7-bit (headers only, the
// Subject RFC 2047-encoded) and sent without SMTPUTF8 or BODY=8BITMIME,
// so the smart host takes it.
func TestDaemonDSNOfEightBitFailureReachesOutsideSender(t *testing.T) {
	smart := freeAddr(t, "127.0.77.1")
	host := startPlainHost(t, smart, "smart.test")
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.77.2")
	cfgPath := umbraHub(t, dir, listen, "1h", "outside", fmt.Sprintf("smart_hosts: [%q]\ntls: none", smart), noMTASTS)
	d := startUmbra(t, cfgPath, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("outsider@other.example", &gosmtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("hdrx@outside.example", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: Zo\xc3\xab <outsider@other.example>\r\nSubject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	for {
		gotMails, got := host.got()
		if len(got) > 0 {
			dsn := got[0]
			if len(got) != 1 || !strings.HasPrefix(gotMails[len(gotMails)-1], "MAIL FROM:<>") {
				t.Fatalf("the smart host got %q %q", gotMails, got)
			}
			if m := gotMails[len(gotMails)-1]; strings.Contains(m, "SMTPUTF8") || strings.Contains(m, "BODY=8BITMIME") {
				t.Errorf("the DSN's MAIL is %q", m)
			}
			if i := bytes.IndexFunc([]byte(dsn), func(r rune) bool { return r >= 0x80 }); i >= 0 {
				t.Fatalf("8-bit DSN:\n%s", dsn)
			}
			for _, w := range []string{"To: <outsider@other.example>", "Status: 5.6.7", "Content-Type: text/rfc822-headers",
				"Subject: =?utf-8?q?caf=C3=A9?=", "left out: From"} {
				if !strings.Contains(dsn, w) {
					t.Errorf("DSN lacks %q:\n%s", w, dsn)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatalf("no DSN reached the smart host (MAIL lines %q)", gotMails)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
