package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/resolver/dnstest"
)

// rq2.dane.test has MX 10 rqa (answers, offers no STARTTLS) and MX 20
// rqb (connection refused), both with secure TLSA records. Normal mail
// to it is kept by DANE from rqa and cannot reach rqb: each attempt is
// the message's (451 4.7.5 … STARTTLS not offered at rqa), never the
// destination's failure, so the destination is not made dead, and a
// "TLS-Required: No" message, which DANE does not bind, goes to rqa at
// once; the held messages show the policy's reply, not the backup's
// connection failure (rt-fixb19 items 1 and 2; TLS-, README
// dead_destination_cool_down).
func TestDaemonPolicyRefusalAndDeadBackupKillNoDestination(t *testing.T) {
	cert := selfSignedCert(t, "rqa.rq2.dane.test")
	spki := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	rqa := freeAddr(t, "127.0.0.177")
	_, port, _ := net.SplitHostPort(rqa)
	tlsa := " 300 IN TLSA 3 1 1 " + hex.EncodeToString(spki[:])
	z := dnstest.StartSigned(t, "127.0.0.178", "dane.test",
		"rq2.dane.test. 300 IN MX 10 rqa.rq2.dane.test.",
		"rq2.dane.test. 300 IN MX 20 rqb.rq2.dane.test.",
		"rqa.rq2.dane.test. 300 IN A 127.0.0.177",
		"rqb.rq2.dane.test. 300 IN A 127.0.0.179",
		"_"+port+"._tcp.rqa.rq2.dane.test."+tlsa,
		"_"+port+"._tcp.rqb.rq2.dane.test."+tlsa)
	unbound := dnstest.StartUnbound(t, "127.0.0.178", z)
	sink := startTLSSink(t, rqa, "rqa.rq2.dane.test", nil) // no STARTTLS; nothing listens at rqb

	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.176")
	cfgPath := umbraHub(t, dir, listen, "1s", "internet", "port: "+port+"\ntls: opportunistic",
		dnsServers(unbound)+"  trust_ad: true\n"+noMTASTS)
	d := startUmbra(t, cfgPath, listen)
	send := func(body string) {
		t.Helper()
		c, err := gosmtp.Dial(listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SendMail("a@umbra.test", []string{"b@rq2.dane.test"}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	send("Subject: one\r\n\r\nhi\r\n")
	send("Subject: two\r\n\r\nhi\r\n")

	// Three rounds of both (retry_schedule 1s): more failures in a row
	// than the window of 5 allows, had they counted.
	var log string
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(d.log)
		log = string(b)
		if strings.Contains(log, "destination dead") || strings.Count(log, "STARTTLS not offered") >= 6 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(log, "destination dead") || strings.Count(log, "STARTTLS not offered") < 6 {
		d.dumpLog()
		t.Fatalf("a DANE refusal at rqa and a refused backup made the destination dead, or fewer than 3 rounds were made")
	}
	send("TLS-Required: No\r\nSubject: three\r\n\r\nhi\r\n")
	deadline = time.Now().Add(20 * time.Second)
	for len(sink.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := sink.received(); len(got) != 1 || got[0] {
		d.dumpLog()
		t.Fatalf("rqa received %v, want the TLS-Required: No message, in clear", got)
	}
	out, code := cli(t, cfgPath, "message", "list", "--json")
	if code != 0 || strings.Count(out, "STARTTLS not offered") < 2 || strings.Contains(out, "connection refused") {
		t.Fatalf("message list (exit %d) does not show DANE's refusal at rqa as the held messages' last reply:\n%s", code, out)
	}
}
