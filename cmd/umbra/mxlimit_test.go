package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/resolver/dnstest"
	"umbra/internal/testsupport"
)

// A domain with 8 MX hosts that all answer "421 busy" costs one attempt
// two connections (mx_session_limit's default), and `route explain`
// shows the limits and the addresses past mx_address_limit. A message
// with 8-bit content to a domain whose only MX host offers neither
// 8BITMIME nor SMTPUTF8 is not sent there: it bounces with 5.6.3 and the
// sender gets the DSN.
func TestDaemonMXLimitAnd8BitMIME(t *testing.T) {
	first := freeAddr(t, "127.0.0.230")
	_, port, _ := net.SplitHostPort(first)
	records := []string{"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"seven.test. 300 IN MX 10 mx.seven.test.", "mx.seven.test. 300 IN A 127.0.0.239"}
	var busy atomic.Int32
	for i := 0; i < 8; i++ {
		records = append(records, fmt.Sprintf("many.test. 300 IN MX %d m%d.many.test.", 10*(i+1), i),
			fmt.Sprintf("m%d.many.test. 300 IN A 127.0.0.%d", i, 230+i))
		testsupport.Serve(t, fmt.Sprintf("127.0.0.%d:%s", 230+i, port), func(c net.Conn) {
			busy.Add(1)
			c.Write([]byte("421 4.3.2 busy\r\n"))
			c.Close()
		})
	}
	dns := dnstest.Start(t, records...)

	// mx.seven.test offers neither 8BITMIME nor SMTPUTF8 and records
	// what reaches its DATA.
	seven := startPlainHost(t, "127.0.0.239:"+port, "seven.test")

	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.229")
	cfgPath := umbraHub(t, dir, listen, "1h", "internet", "port: "+port+"\ntls: none", dnsServers(dns.Addr)+noMTASTS)
	d := startUmbra(t, cfgPath, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@umbra.test", []string{"u@many.test"}, strings.NewReader("Subject: many\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@umbra.test", &gosmtp.MailOptions{Body: gosmtp.Body8BitMIME}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("u@seven.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: x\r\n\r\nx \xc3\xa9\xc3\xa9\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	cut := "mx_session_limit 2 reached: 6 more hosts not tried in this attempt" // not looked up either (delivery/mxlookup.go)
	var dsn string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		log, _ := os.ReadFile(d.log)
		dsn = findFile(filepath.Join(dir, "data", "maildir"), "5.6.3")
		if strings.Contains(string(log), cut) && dsn != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(d.log)
	if !strings.Contains(string(log), cut) {
		d.dumpLog()
		t.Fatalf("the log does not defer u@many.test with %q", cut)
	}
	if got := busy.Load(); got != 2 {
		t.Errorf("%d connections to many.test's MX hosts in one attempt, want 2", got)
	}
	if dsn == "" || !strings.Contains(dsn, "does not support 8BITMIME") {
		d.dumpLog()
		t.Fatalf("no DSN with 5.6.3 for u@seven.test in the sender's mailbox")
	}
	if _, bodies := seven.got(); len(bodies) != 0 {
		t.Errorf("the host without 8BITMIME got %q", bodies)
	}

	out, err := exec.Command(umbraBin, "route", "explain", "--socket", filepath.Join(dir, "data", "admin.sock"), "u@many.test").CombinedOutput()
	if err != nil {
		t.Fatalf("route explain: %v\n%s", err, out)
	}
	for _, want := range []string{"per attempt: mx_address_limit 5", "mx_session_limit 2",
		"not tried in an attempt (past mx_address_limit 5 of 8 addresses): m5.many.test[127.0.0.235] m6.many.test[127.0.0.236] m7.many.test[127.0.0.237]"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("route explain lacks %q:\n%s", want, out)
		}
	}
}

// findFile returns the content of the first file under root containing
// s, or "".
func findFile(root, s string) string {
	var found string
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || found != "" {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), s) {
			found = string(b)
		}
		return nil
	})
	return found
}

// config check warns about MX limits set on a connector with smart hosts
// (they bound MX hosts only) and not about the defaults there.
func TestConfigCheckWarnsInertMXLimits(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
	want := `warning: send connector "sink": mx_address_limit and mx_session_limit bound MX hosts only`
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil || strings.Contains(string(out), want) {
		t.Errorf("defaults on a smart-host connector: %v\n%s", err, out)
	}
	editConfig(t, cfg, "    tls: none\n", "    tls: none\n    mx_session_limit: 4\n")
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("mx_session_limit on a smart-host connector: %v\n%s", err, out)
	}
}
