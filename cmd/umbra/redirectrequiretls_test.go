package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/resolver/dnstest"
)

// rt17d-F6: `queue redirect` of an MX queue holding a REQUIRETLS message
// (deferred: the domain's MTA-STS record cannot be looked up) moves the
// other message and keeps the REQUIRETLS one on its route — the target is
// verified by no policy of its domain, where it would fail at once with
// 550 5.7.10 — and says so with counts.
func TestQueueRedirectKeepsRequireTLSMessage(t *testing.T) {
	mxAddr := reserveAddr(t, "127.0.0.91") // nothing listens: plain mail waits
	_, port, _ := net.SplitHostPort(mxAddr)
	dns := dnstest.Start(t, "plain.test. 300 IN MX 10 mx.plain.test.", "mx.plain.test. 300 IN A 127.0.0.91")
	dns.Fail("_mta-sts.plain.test") // REQUIRETLS: 451 4.7.5, whether a policy exists is unknown
	dir := t.TempDir()
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "hub.umbra.test"))
	listen := freeAddr(t, "127.0.0.92")
	cfg := umbraHub(t, dir, listen, "1h", "internet", "port: "+port+"\ntls: opportunistic", dnsServers(dns.Addr))
	editConfig(t, cfg, "    remote_ranges: [\"127.0.0.0/8\"]\n",
		fmt.Sprintf("    remote_ranges: [\"127.0.0.0/8\"]\n    tls: {cert_file: %q, key_file: %q}\n", certFile, keyFile))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for _, requireTLS := range []bool{false, true} {
		c, err := gosmtp.DialStartTLS(listen, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("a@umbra.test", &gosmtp.MailOptions{RequireTLS: requireTLS}); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("b@plain.test", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "Subject: r\r\n\r\nbody\r\n")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		c.Close()
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := cli(t, cfg, "message", "list", "--queue", "mx:plain.test")
		if strings.Count(out, "retry") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two deferred messages not in mx:plain.test:\n%s", out)
		}
	}
	out, code := cli(t, cfg, "queue", "redirect", "mx:plain.test", "--to", "127.0.0.93:31001")
	if code != 0 || !strings.Contains(out, "1 message redirected") || !strings.Contains(out, "1 REQUIRETLS message kept in mx:plain.test") {
		t.Fatalf("redirect (exit %d):\n%s", code, out)
	}
	if out, _ := cli(t, cfg, "message", "list", "--queue", "mx:plain.test"); strings.Count(out, "retry") != 1 {
		t.Fatalf("mx:plain.test after the redirect:\n%s", out)
	}
}
