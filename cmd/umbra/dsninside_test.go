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
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`server:
  name: edge.umbra.test
  role: edge
  data_dir: %s
  metrics_listen: ""
transport:
  retry_schedule: [1h]
accepted_domains:
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
%s`, filepath.Join(dir, "data"), listen, hubAddr, out, noMTASTS))
	d := startUmbra(t, cfgPath, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("victim@ext.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.test", nil); err != nil {
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

	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	for {
		_, got := sink.got()
		if len(got) > 0 {
			dsn := got[0]
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
			return
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("no DSN reached the outside smart host")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// umbra's own words about a hub it could not reach name the hub's
// address (a dial error: "127.0.78.4:NNNN: connect: connection
// refused"): the delay DSN to an outside sender gives the status and its
// reason instead, and the tracking log keeps the whole text (dsn12).
func TestDaemonDelayDSNNamesNoHubAddress(t *testing.T) {
	hubAddr := reserveAddr(t, "127.0.78.4") // down: connections refused
	out := freeAddr(t, "127.0.78.5")
	sink := startPlainHost(t, out, "smart.ext.test")
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.78.6")
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`server:
  name: edge.umbra.test
  role: edge
  data_dir: %s
  metrics_listen: ""
transport:
  retry_schedule: [1s]
  delay_notification: 1s
accepted_domains:
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
%s`, filepath.Join(dir, "data"), listen, hubAddr, out, noMTASTS))
	d := startUmbra(t, cfgPath, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("victim@ext.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.test", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyDelayed, gosmtp.DSNNotifyFailure}}); err != nil {
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

	hubIP, _, _ := net.SplitHostPort(hubAddr)
	deadline := time.Now().Add(60 * time.Second) // a bound on the test, not a timing assertion
	for {
		_, got := sink.got()
		if len(got) > 0 {
			dsn := got[0]
			for _, want := range []string{"To: <victim@ext.test>", "Subject: Delayed Mail", "Action: delayed",
				"Diagnostic-Code: X-Umbra; 451 4.4.1 no answer from the next hop", "<alice@example.test>: 451 4.4.1 no answer from the next hop"} {
				if !strings.Contains(dsn, want) {
					t.Errorf("the DSN lacks %q:\n%s", want, dsn)
				}
			}
			for _, leak := range []string{"Remote-MTA", hubIP, "connection refused", "X-Umbra-"} {
				if strings.Contains(dsn, leak) {
					t.Errorf("the DSN to an outside sender shows %q:\n%s", leak, dsn)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("no DSN reached the outside smart host")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The whole text stays in the tracking log.
	tl, err := os.ReadFile(filepath.Join(dir, "data", "tracking.log"))
	if err != nil || !strings.Contains(string(tl), hubIP) {
		t.Errorf("the tracking log does not keep the whole reply (%v):\n%s", err, tl)
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
