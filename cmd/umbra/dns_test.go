package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/resolver/dnstest"
)

// mxConfig is a hub that delivers to the internet by MX, asking only
// the given DNS server, and retries every second.
func mxConfig(t testing.TB, dir, listen, dnsAddr string, port string) string {
	t.Helper()
	cfg := fmt.Sprintf(`server:
  name: hub.e2e.test
  data_dir: %s
  metrics_listen: ""
transport:
  retry_schedule: [1s]
  retry_jitter: 0.1
accepted_domains:
  - domain: example.test
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: loopback
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit, relay]
    max_acknowledgement_delay: 0s
send_connectors:
  - name: internet
    address_spaces: [{domain: "*", cost: 1}]
    port: %s
    tls: none
dns:
  servers: [%q]
  timeout: 300ms
  attempts: 1
mailbox:
  maildir: maildir
`, filepath.Join(dir, "data"), listen, port, dnsAddr)
	p := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sendTo(t *testing.T, addr, rcpt, subject string) {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := "From: a@example.org\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nby MX\r\n"
	if err := c.SendMail("a@example.org", []string{rcpt}, strings.NewReader(body)); err != nil {
		t.Fatalf("submitting to %s: %v", rcpt, err)
	}
	c.Quit()
}

// EDGE "DNS done once": delivery finds the next hop by MX through
// umbra's resolver asking the configured server (a real DNS server on
// loopback), and a DNS server that does not answer defers the message
// (451, retried) instead of bouncing it.
func TestDeliveryByMXThroughResolver(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	sinkAddr := freeAddr(t, "127.0.0.7")
	_, port, _ := strings.Cut(sinkAddr, ":")
	rec := startRecorder(t, sinkAddr)
	srv := dnstest.Start(t,
		"mx.test. 3600 IN SOA ns.mx.test. host.mx.test. 1 3600 600 86400 60",
		"mx.test. 60 IN MX 10 mail.mx.test.",
		"mx.test. 60 IN MX 20 dead.mx.test.",
		"mail.mx.test. 60 IN A 127.0.0.7",
		"dead.mx.test. 60 IN A 127.0.0.8",
	)
	srv.Drop("slow.test")
	d := startUmbra(t, mxConfig(t, dir, listen, srv.Addr, port), listen)

	sendTo(t, listen, "bob@mx.test", "by-mx")
	sendTo(t, listen, "carol@slow.test", "dns-timeout")
	deadline := time.Now().Add(30 * time.Second)
	for rec.counts()["by-mx"] != 1 {
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatalf("the message to mx.test did not reach its MX host (%v)", rec.counts())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The MX that timed out is retried (every second here): at least two
	// deferrals with the 4.4.3 reply, no failure, no bounce.
	for {
		b, _ := os.ReadFile(d.log)
		log := string(b)
		n := 0
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "rcpt=carol@slow.test") {
				if strings.Contains(line, "event=fail") || strings.Contains(line, "event=dsn") {
					t.Fatalf("a DNS timeout failed the recipient:\n%s", line)
				}
				if strings.Contains(line, "event=defer") && strings.Contains(line, "451 4.4.3 MX lookup for slow.test failed") {
					n++
				}
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatalf("%d deferrals of the recipient whose MX lookup timed out, want 2", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec.counts()["dns-timeout"] != 0 {
		t.Fatal("delivered without an MX answer")
	}
	if srv.Queries() == 0 {
		t.Fatal("the DNS server was never asked")
	}
}

// EDGE connection filtering through the real server: the receive
// connector's DNS list and HELO checks ask the dns section's resolver.
func TestConnectionFilteringThroughServer(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	srv := dnstest.Start(t,
		"2.0.0.127.zen.test. 300 IN A 127.0.0.2",
		"3.0.0.127.zen.test. 300 IN A 127.255.255.254", // an error code: never a listing
	)
	cfg := fmt.Sprintf(`server:
  name: edge.e2e.test
  role: edge
  data_dir: %s
  metrics_listen: ""
accepted_domains:
  - domain: example.test
    recipient_validation: off
receive_connectors:
  - name: internet
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit]
    connection_filtering:
      dnsbl:
        lists:
          - zone: zen.test
            codes: {"127.0.0.2": SBL}
      helo:
        syntax: reject
dns:
  servers: [%q]
  timeout: 500ms
  attempts: 1
mailbox:
  maildir: maildir
`, filepath.Join(dir, "data"), listen, srv.Addr)
	p := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, p, listen)
	try := func(from, helo string) error {
		c, err := smtpClientFrom(from, listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Hello(helo)
	}
	err := try("127.0.0.2", "client.test")
	if se, ok := err.(*gosmtp.SMTPError); !ok || se.Code != 554 || !strings.Contains(se.Message, "blocked using zen.test (SBL)") {
		d.dumpLog()
		t.Fatalf("listed client: %v", err)
	}
	if err := try("127.0.0.3", "client.test"); err != nil {
		d.dumpLog()
		t.Fatalf("client answered with an error code: %v", err)
	}
	// A bare address: a name every connector takes, the syntax check refuses.
	err = try("127.0.0.4", "192.0.2.1")
	if se, ok := err.(*gosmtp.SMTPError); !ok || se.Code != 501 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 5, 4}) || !strings.Contains(se.Message, "EHLO command rejected") {
		t.Fatalf("bad HELO: %v (want 501 5.5.4 naming the EHLO sent: front45)", err)
	}
	b, _ := os.ReadFile(d.log)
	if !strings.Contains(string(b), "DNS list misconfigured") {
		t.Fatalf("the error code was not logged:\n%s", b)
	}

	// A reload applies the connector's new lists at once; a changed dns
	// section is named as needing a restart.
	cfg = strings.Replace(cfg, `"127.0.0.2": SBL`, `"127.0.0.9": SBL`, 1)
	cfg = strings.Replace(cfg, "timeout: 500ms", "timeout: 400ms", 1)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.hup()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(readFile(d.log), "need a restart") && !strings.Contains(readFile(d.log), "apply only after a restart") {
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("no reload in the log")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if log := readFile(d.log); !strings.Contains(log, "dns.timeout") {
		t.Fatalf("the reload did not name dns.timeout:\n%s", log)
	}
	if err := try("127.0.0.2", "client.test"); err != nil {
		d.dumpLog()
		t.Fatalf("after the reload the code 127.0.0.2 no longer lists: %v", err)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func smtpClientFrom(from, addr string) (*gosmtp.Client, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return gosmtp.NewClient(nc), nil
}
