package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// rt44 L2: an edge without a topology relays its internal_relay domain
// to a hub through a smart host, and the hub refuses the message at the
// end of DATA. The bounce goes to an outside sender through the edge's
// smart host for everything else: it quotes the hub's reply, but names
// no Remote-MTA — the hosts that take mail for the organisation's own
// domains are the organisation's — and carries no X-Umbra- field.
//
// The hub's reply is the organisation's own text: the DSN to the outside
// sender gives its code, status and reason, not the hub's name and
// address it holds (dsn12).
func TestDaemonEdgeBounceNamesNoHub(t *testing.T) {
	hubAddr := freeAddr(t, "127.0.78.1")
	testsupport.Serve(t, hubAddr, func(c net.Conn) {
		go refuseAtDot(c, "hub1.corp.test", "554 5.4.6 hub1.corp.test ["+hubAddr+"]: Too many hops (Received: headers): mail loop")
	})
	out := freeAddr(t, "127.0.78.2")
	sink := startPlainHost(t, out, "smart.ext.test")
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.78.3")
	d := startUmbra(t, edgeViaSmartHosts(t, dir, listen, hubAddr, out, "  retry_schedule: [1h]\n"), listen)
	sendFromOutside(t, listen, nil)
	dsn := waitOutsideDSN(t, d, sink, 30*time.Second)
	for _, want := range []string{"To: <victim@ext.test>", "Status: 5.4.6", "Diagnostic-Code: smtp; 554 5.4.6 routing loop detected",
		"<alice@example.test>: 554 5.4.6 routing loop detected"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("the DSN lacks %q:\n%s", want, dsn)
		}
	}
	for _, leak := range []string{"Remote-MTA", "127.0.78.1", "X-Umbra-", "hub1.corp.test"} {
		if strings.Contains(dsn, leak) {
			t.Errorf("the DSN to an outside sender shows %q:\n%s", leak, dsn)
		}
	}
}

// umbra's own words about a hub it could not reach name the hub's
// address (a dial error: "127.0.78.4:NNNN: connect: connection
// refused"): the delay DSN to an outside sender says in words that its
// next hop could not be reached — neither the hub's address nor why it
// did not take the connection, and no reply no host gave (it read "451
// 4.4.1 no answer from the next hop", the status's reason, as a reply:
// rt43-delivery F2) — and the tracking log keeps the whole text (dsn12).
func TestDaemonDelayDSNNamesNoHubAddress(t *testing.T) {
	hubAddr := reserveAddr(t, "127.0.78.4") // down: connections refused
	out := freeAddr(t, "127.0.78.5")
	sink := startPlainHost(t, out, "smart.ext.test")
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.78.6")
	d := startUmbra(t, edgeViaSmartHosts(t, dir, listen, hubAddr, out, "  retry_schedule: [1s]\n  delay_notification: 1s\n"), listen)
	sendFromOutside(t, listen, &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyDelayed, gosmtp.DSNNotifyFailure}})

	hubIP, _, _ := net.SplitHostPort(hubAddr)
	dsn := waitOutsideDSN(t, d, sink, 60*time.Second)
	for _, want := range []string{"To: <victim@ext.test>", "Subject: Delayed Mail", "Action: delayed",
		"<alice@example.test>: not delivered yet: its next hop could not be reached"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("the DSN lacks %q:\n%s", want, dsn)
		}
	}
	for _, leak := range []string{"Remote-MTA", hubIP, "connection refused", "X-Umbra", "Diagnostic-Code:", "no answer from the next hop"} {
		if strings.Contains(dsn, leak) {
			t.Errorf("the DSN to an outside sender shows %q:\n%s", leak, dsn)
		}
	}
	// The whole text stays in the tracking log.
	tl, err := os.ReadFile(filepath.Join(dir, "data", "tracking.log"))
	if err != nil || !strings.Contains(string(tl), hubIP) {
		t.Errorf("the tracking log does not keep the whole reply (%v):\n%s", err, tl)
	}
}

// edgeViaSmartHosts writes the configuration of an edge without a
// topology listening at listen: example.test (internal_relay) goes to
// the hub at hubAddr, everything else to the smart host out, both as
// smart hosts; transport is the body of its transport section.
func edgeViaSmartHosts(t *testing.T, dir, listen, hubAddr, out, transport string) string {
	return writeConfig(t, dir, fmt.Sprintf(`server:
  name: edge.umbra.test
  role: edge
  data_dir: %s
  metrics_listen: ""
transport:
%saccepted_domains:
  - domain: example.test
    type: internal_relay
    recipient_validation: off
receive_connectors:
  - name: internet
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit]
    max_acknowledgement_delay: 0s
send_connectors:
  - name: to-hub
    address_spaces: [{domain: example.test, cost: 1}]
    smart_hosts: [%q]
    tls: none
  - name: out
    address_spaces: [{domain: "*", cost: 5}]
    smart_hosts: [%q]
    tls: none
%s`, filepath.Join(dir, "data"), transport, listen, hubAddr, out, noMTASTS))
}

// sendFromOutside submits a message from the outside sender
// victim@ext.test to alice@example.test at listen (opts for its RCPT).
func sendFromOutside(t *testing.T, listen string, opts *gosmtp.RcptOptions) {
	t.Helper()
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("victim@ext.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.test", opts); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: x@ext.test\r\nTo: alice@example.test\r\nSubject: s\r\n\r\nbody\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
}

// waitOutsideDSN returns the first message the smart host sink got (the
// DSN to the outside sender), waiting at most bound — a bound on the
// test, not a timing assertion.
func waitOutsideDSN(t *testing.T, d *daemon, sink *plainHost, bound time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		if _, got := sink.got(); len(got) > 0 {
			return got[0]
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("no DSN reached the outside smart host")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refuseAtDot is an SMTP server that takes every command and refuses
// each message at its end with reply.
func refuseAtDot(c net.Conn, name, reply string) {
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("220 " + name + " ESMTP\r\n"))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch u := strings.ToUpper(l); {
		case strings.HasPrefix(u, "EHLO"):
			c.Write([]byte("250-" + name + "\r\n250 ENHANCEDSTATUSCODES\r\n"))
		case strings.HasPrefix(u, "DATA"):
			c.Write([]byte("354 go\r\n"))
			if _, err := testsupport.ReadData(r); err != nil {
				return
			}
			c.Write([]byte(reply + "\r\n"))
		case strings.HasPrefix(u, "QUIT"):
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			c.Write([]byte("250 2.0.0 ok\r\n"))
		}
	}
}
