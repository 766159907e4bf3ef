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
