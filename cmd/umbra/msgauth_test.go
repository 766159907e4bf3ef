package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/resolver/dnstest"
)

// EDGE-1 through the daemon: an internet connector with the internet
// profile asks the configured DNS server (a real one on loopback):
// p=reject with SPF failing and no signature is refused at the end of
// DATA naming DMARC; p=none is delivered with one Authentication-Results
// of umbra's saying why, the forged one removed.
func TestMessageAuthenticationEndToEnd(t *testing.T) {
	dns := dnstest.Start(t,
		`reject.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.reject.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`none.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.none.test. 300 IN TXT "v=DMARC1; p=none"`,
	)
	dir := t.TempDir()
	path, listen := dmarcMX(t, dir, dns.Addr)
	startUmbra(t, path, listen)
	msg := func(from, subject string) string {
		return "Authentication-Results: mx.e2e.test; dmarc=pass header.from=" + from[strings.Index(from, "@")+1:] + "\r\n" +
			"From: <" + from + ">\r\nTo: bob@example.test\r\nSubject: " + subject + "\r\n\r\nhello"
	}
	if r := rawSend(t, listen, "a@reject.test", []string{"bob@example.test"}, msg("a@reject.test", "rejected")); !strings.HasPrefix(r, "550 5.7.1") || !strings.Contains(r, "DMARC") {
		t.Fatalf("p=reject: %s", r)
	}
	if r := rawSend(t, listen, "a@none.test", []string{"bob@example.test"}, msg("a@none.test", "accepted")); !strings.HasPrefix(r, "250") {
		t.Fatalf("p=none: %s", r)
	}
	var files []string
	waitCond(t, "delivery", 20*time.Second, func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "data", "maildir", "example.test", "bob", "new", "*"))
		return len(files) == 1
	})
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if n := strings.Count(got, "Authentication-Results: mx.e2e.test;"); n != 1 {
		t.Fatalf("%d Authentication-Results of umbra's:\n%s", n, got)
	}
	for _, want := range []string{"spf=fail smtp.mailfrom=none.test", "dkim=none", "dmarc=fail (p=none) header.from=none.test"} {
		if !strings.Contains(got, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "dmarc=pass") {
		t.Errorf("the forged result survived:\n%s", got)
	}
}

// rt20b-F1, F2 (EDGE-1) through the daemon, as seen from outside: the
// envelope x@evil.test passes SPF, bank.test publishes p=reject. A
// display name that a reader shows as ceo@bank.test (UTF-16, UTF-7, a
// fullwidth '@') is refused; the author's own address as its name, in
// the quotes one client writes, is delivered.
func TestFromDisplayNameEndToEnd(t *testing.T) {
	dns := dnstest.Start(t,
		`evil.test. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.evil.test. 300 IN TXT "v=DMARC1; p=none"`,
		`bank.test. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.bank.test. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	dir := t.TempDir()
	path, listen := dmarcMX(t, dir, dns.Addr)
	startUmbra(t, path, listen)
	msg := func(from, subject string) string {
		return "From: " + from + "\r\nTo: bob@example.test\r\nSubject: " + subject + "\r\n\r\nhello"
	}
	for _, from := range []string{
		"=?utf-16?b?/v8AYwBlAG8AQABiAGEAbgBrAC4AdABlAHMAdA==?= <a@evil.test>",
		"=?utf-7?q?ceo+AEA-bank.test?= <a@evil.test>",
		"ceo\uff20bank.test <a@evil.test>",
		// fromfix21: junk after the top label, a quoted string joined
		// to a word of the author's domain, an ideographic full stop.
		"\"ceo@bank.test.1\" <a@evil.test>",
		"\"ceo@bank.test\"x.evil.test <a@evil.test>",
		"\"ceo @ bank\u3002test\" <a@evil.test>",
	} {
		r := rawSend(t, listen, "x@evil.test", []string{"bob@example.test"}, msg(from, "spoof"))
		if !strings.HasPrefix(r, "550 5.7.1 message refused: DMARC needs one author domain in From:") || !strings.Contains(r, "'ceo@bank.test'") {
			t.Errorf("From: %s: %s", from, r)
		}
	}
	if r := rawSend(t, listen, "alice@evil.test", []string{"bob@example.test"}, msg(`"'alice@evil.test'" <alice@evil.test>`, "own")); !strings.HasPrefix(r, "250") {
		t.Fatalf("the author's own address as its name: %s", r)
	}
	var files []string
	waitCond(t, "delivery", 20*time.Second, func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "data", "maildir", "example.test", "bob", "new", "*"))
		return len(files) >= 1
	})
	if len(files) != 1 {
		t.Fatalf("%d messages delivered, want the one accepted", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); !strings.Contains(got, "dmarc=pass (p=none) header.from=evil.test") || !strings.Contains(got, "Subject: own") {
		t.Errorf("delivered message:\n%s", got)
	}
}
