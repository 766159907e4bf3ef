package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// queue redirect under a topology sends the mail with the TLS and auth
// settings of the send connector its route leaves through — the
// topology's "out" (here tls: required) — not of a connector the
// configuration's address spaces alone would pick (an old "*"
// connector without TLS left in the file). A real daemon, a real
// redirect: the target sees the message arrive over TLS.
func TestQueueRedirectUnderTopologyTakesTheRoutesConnector(t *testing.T) {
	dir := t.TempDir()
	listen, dead, target := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(fmt.Sprintf(`sites:
  - {name: a}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, listen, dead)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := orgHub(t, dir, "hub-a", listen, topo, "0s", fmt.Sprintf(`send_connectors:
  - name: old
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: [%q]
    tls: none
  - name: out
    address_spaces: [{domain: other.example, cost: 1}] # the topology's are what route
    smart_hosts: [%q]
    tls: required
`, dead, dead))
	cert := selfSignedCert(t, "target.test")
	sink := startTLSSink(t, target, "target.test", func(srv *gosmtp.Server) {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	d := startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@sender.test", []string{"b@remote.example"}, strings.NewReader("Subject: redirect\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := cli(t, cfg, "queue", "redirect", "smarthost:out", "--to", target, "--json")
		var res struct{ Messages int }
		json.Unmarshal([]byte(out), &res)
		if code != 0 && code != exitNotFound { // 3: not deferred into the queue yet
			t.Fatalf("redirect: exit %d %s", code, out)
		}
		if res.Messages == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing redirected (exit %d %s)", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if got := sink.received(); len(got) > 0 {
			if len(got) != 1 || !got[0] {
				t.Fatalf("the redirect target got %v (TLS per message); want one message over TLS (connector out: tls required)", got)
			}
			break
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("the redirected message did not arrive")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
