package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	var mu sync.Mutex
	var mails, bodies []string
	ln, err := net.Listen("tcp", smart)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				c.Write([]byte("220 smart.test ESMTP\r\n"))
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch u := strings.ToUpper(l); {
					case strings.HasPrefix(u, "EHLO"):
						c.Write([]byte("250-smart.test\r\n250 SIZE 10000000\r\n"))
					case strings.HasPrefix(u, "MAIL"):
						mu.Lock()
						mails = append(mails, strings.TrimRight(l, "\r\n"))
						mu.Unlock()
						c.Write([]byte("250 ok\r\n"))
					case strings.HasPrefix(u, "DATA"):
						c.Write([]byte("354 go\r\n"))
						var b strings.Builder
						for {
							d, err := r.ReadString('\n')
							if err != nil || d == ".\r\n" {
								break
							}
							b.WriteString(d)
						}
						mu.Lock()
						bodies = append(bodies, b.String())
						mu.Unlock()
						c.Write([]byte("250 ok\r\n"))
					case strings.HasPrefix(u, "QUIT"):
						c.Write([]byte("221 bye\r\n"))
						return
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()

	dir := t.TempDir()
	listen := freeAddr(t, "127.0.77.2")
	cfg := `server:
  name: hub.umbra.test
  data_dir: ` + filepath.Join(dir, "data") + `
  metrics_listen: ""
transport:
  retry_schedule: [1h]
accepted_domains:
  - domain: umbra.test
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: loopback
    bindings: ["` + listen + `"]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit, relay]
    max_acknowledgement_delay: 0s
send_connectors:
  - name: outside
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: ["` + smart + `"]
    tls: none
outbound_tls:
  mta_sts: false
mailbox:
  maildir: maildir
`
	cfgPath := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
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
		mu.Lock()
		got, gotMails := append([]string(nil), bodies...), append([]string(nil), mails...)
		mu.Unlock()
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
