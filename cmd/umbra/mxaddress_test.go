package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/resolver/dnstest"
)

// A domain whose MX host does not exist bounces with a reply that names
// the MX host and the failed lookup (5.4.4), not "domain not found"; an
// MX host that is an alias the DNS server answers without its target's
// address is followed and delivered to; `umbra route explain` tells the
// same story for both.
func TestDaemonMXHostWithoutAddress(t *testing.T) {
	mxAddr := freeAddr(t, "127.0.0.217")
	_, port, _ := net.SplitHostPort(mxAddr)
	dns := dnstest.Start(t,
		"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"badmx.test. 300 IN MX 10 nohost.badmx.test.",
		"cnmx.test. 300 IN MX 10 alias.cnmx.test.",
		"alias.cnmx.test. 300 IN CNAME mx.ext.test.",
		"mx.ext.test. 300 IN A 127.0.0.217")
	dns.NoChase("cnmx.test")

	sink := startTLSSink(t, mxAddr, "mx.ext.test", nil)

	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.218")
	cfgPath := umbraHub(t, dir, listen, "1s", "internet", "port: "+port+"\ntls: opportunistic", dnsServers(dns.Addr)+noMTASTS)
	d := startUmbra(t, cfgPath, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@umbra.test", []string{"u@badmx.test", "u@cnmx.test"}, strings.NewReader("Subject: mx\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	want := "550 5.4.4 MX host nohost.badmx.test of badmx.test has no address: lookup nohost.badmx.test"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		log, _ := os.ReadFile(d.log)
		if len(sink.received()) == 1 && strings.Contains(string(log), want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(d.log)
	if len(sink.received()) != 1 || !strings.Contains(string(log), want) || strings.Contains(string(log), "5.1.2") {
		d.dumpLog()
		t.Fatalf("the MX through a CNAME got %d messages (want 1); the log should fail u@badmx.test with %q", len(sink.received()), want)
	}

	sock := filepath.Join(dir, "data", "admin.sock")
	for rcpt, wants := range map[string][]string{
		"u@badmx.test": {"no address: lookup nohost.badmx.test", "delivery fails at once (bounce): " + want},
		"u@cnmx.test":  {"addresses: 127.0.0.217 (CNAME alias.cnmx.test -> mx.ext.test.)"},
	} {
		out, err := exec.Command(umbraBin, "route", "explain", "--socket", sock, rcpt).CombinedOutput()
		if err != nil {
			t.Fatalf("route explain %s: %v\n%s", rcpt, err, out)
		}
		for _, w := range wants {
			if !strings.Contains(string(out), w) {
				t.Errorf("route explain %s lacks %q:\n%s", rcpt, w, out)
			}
		}
	}
}
