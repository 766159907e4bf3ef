package main

import (
	"crypto/tls"
	"net/smtp"
	"os"
	"slices"

	"path/filepath"
	"strings"
	"testing"
	"time"
	"umbra/internal/config"
)

// rt50 M1: mail enters the organisation at the edge, so a result naming
// any of the organisation's authserv-ids must be removed there, not
// only one naming the edge. An internet client sends through the edge
// (which relays to the hub as an authenticated transport server)
// Authentication-Results claiming the hub's name — plain, in another
// case with a final dot, with comments, with an RFC 8601 version,
// folded — one claiming the edge, and one claiming the organisation's
// shared id listed in the edge's organisation_authserv_ids. None of
// them reaches alice's maildir at the hub; a result of another server
// (other.test) does. The edge here reaches the hub by address, so it
// does not know the hub's name: the hub itself never keeps a result
// claiming its own name from a transport server (the edge never writes
// one).
func TestForgedResultsRemovedThroughTheEdge(t *testing.T) {
	edge, edgeCfg, hub, hubCfg, hubDir, _ := hopPair(t)
	appendConfig(t, edgeCfg, "organisation_authserv_ids: [corp.umbra.test]\n")
	appendConfig(t, hubCfg, "organisation_authserv_ids: [corp.umbra.test]\n")
	h := startUmbra(t, hubCfg, hub)
	e := startUmbra(t, edgeCfg, edge)
	forged := []string{
		"Authentication-Results: hub.umbra.test; dmarc=pass header.from=v1.test",
		"Authentication-Results: HUB.Umbra.Test.; dmarc=pass header.from=v2.test",
		"Authentication-Results: (hub) hub.umbra.test (mx) ; dmarc=pass header.from=v3.test",
		"Authentication-Results: hub.umbra.test 1; dmarc=pass header.from=v4.test",
		"Authentication-Results:\r\n hub.umbra.test\r\n\t;\r\n\tdmarc=pass header.from=v5.test",
		"Authentication-Results: edge.umbra.test; dmarc=pass header.from=v6.test",
		"Authentication-Results: Corp.Umbra.Test; dmarc=pass header.from=v7.test",
	}
	msg := strings.Join(forged, "\r\n") + "\r\n" +
		"Authentication-Results: other.test; dmarc=pass header.from=kept.test\r\n" +
		"From: ceo@umbra.test\r\nSubject: ar-via-edge\r\n\r\nbody"
	if r := rawSend(t, edge, "x@ext.test", []string{"alice@umbra.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("the edge answered %q", r)
	}
	maildir := filepath.Join(hubDir, "data", "maildir", "umbra.test", "alice", "new", "*")
	waitCond(t, "the hub's delivery", 20*time.Second, func() bool {
		f, _ := filepath.Glob(maildir)
		return len(f) == 1
	})
	f, _ := filepath.Glob(maildir)
	b, _ := os.ReadFile(f[0])
	got := string(b)
	for i := 1; i <= 7; i++ {
		if v := "v" + string(rune('0'+i)) + ".test"; strings.Contains(got, v) {
			t.Errorf("the forged result %d (%s) reached the mailbox", i, v)
		}
	}
	if !strings.Contains(got, "other.test; dmarc=pass header.from=kept.test") {
		t.Errorf("another server's result was removed")
	}
	if t.Failed() {
		e.dumpLog()
		h.dumpLog()
		t.Fatalf("alice's copy:\n%s", got)
	}

	// A transport server's results are kept — the edge's own and the
	// organisation's shared id, which its front door vouches for — but
	// not one claiming the hub's name: no earlier hop writes that.
	c, err := smtp.Dial(hub)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("edge.umbra.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "edge", "pw", "127.0.0.2")); err != nil {
		t.Fatal(err)
	}
	c.Mail("x@ext.test")
	c.Rcpt("bob@umbra.test")
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Authentication-Results: hub.umbra.test; dmarc=pass header.from=s1.test\r\n" +
		"Authentication-Results: edge.umbra.test; dmarc=pass header.from=s2.test\r\n" +
		"Authentication-Results: corp.umbra.test; dmarc=pass header.from=s3.test\r\n" +
		"From: ceo@umbra.test\r\nSubject: from-transport\r\n\r\nbody\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	bobdir := filepath.Join(hubDir, "data", "maildir", "umbra.test", "bob", "new", "*")
	waitCond(t, "the hub's delivery to bob", 20*time.Second, func() bool {
		f, _ := filepath.Glob(bobdir)
		return len(f) == 1
	})
	f, _ = filepath.Glob(bobdir)
	b, _ = os.ReadFile(f[0])
	got = string(b)
	if strings.Contains(got, "s1.test") || !strings.Contains(got, "header.from=s2.test") || !strings.Contains(got, "header.from=s3.test") {
		h.dumpLog()
		t.Fatalf("bob's copy (want s2 and s3 kept, s1 removed):\n%s", got)
	}
}

// The organisation's authserv-ids the front door removes from clients
// that are not its transport servers: this server's own, the
// topology's servers, the smart hosts of send connectors that log in
// or carry an accepted domain (not an address, not an outside relay's),
// and organisation_authserv_ids; from a transport server only the
// server's name.
func TestFrontDoorIDs(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte("sites: [{name: s1}]\nservers:\n  - {name: hub1.corp.test, role: hub, site: s1, address: \"127.0.0.9:25\"}\n"+
		"  - {name: Hub2.Corp.Test, role: hub, site: s1, address: \"127.0.0.10:25\"}\n"), 0o600)
	c := &config.Config{Server: config.Server{Name: "Edge1.Corp.Test"}, Topology: topo,
		OrganisationAuthservIDs: []string{"corp.test"},
		AcceptedDomains:         []config.AcceptedDomain{{Domain: "corp.test", Type: "internal_relay"}, {Domain: "partner.test", Type: "external_relay"}},
		SendConnectors: []config.SendConnector{
			{Name: "to-hub", SmartHosts: []string{"hubs.corp.test:2525", "[192.0.2.1]", "192.0.2.2"}, Auth: config.SendAuth{Username: "edge1"}},
			{Name: "inside", SmartHosts: []string{"mbx.corp.test"}, AddressSpaces: []config.AddressSpace{{Domain: "corp.test"}}},
			{Name: "partner", SmartHosts: []string{"mx.partner.test"}, AddressSpaces: []config.AddressSpace{{Domain: "partner.test"}}},
			{Name: "isp", SmartHosts: []string{"relay.isp.test"}, AddressSpaces: []config.AddressSpace{{Domain: "*"}}},
		}}
	ids := frontDoorIDs(c)
	want := []string{"edge1.corp.test", "corp.test", "hub1.corp.test", "hub2.corp.test", "hubs.corp.test", "mbx.corp.test"}
	if !slices.Equal(ids.Org, want) {
		t.Errorf("organisation ids %q, want %q", ids.Org, want)
	}
	if !slices.Equal(ids.ServerOnly, []string{"edge1.corp.test"}) || !slices.Equal(ids.Own, []string{"edge1.corp.test"}) {
		t.Errorf("own %q, server-only %q", ids.Own, ids.ServerOnly)
	}
}

// A send connector carries an accepted domain whichever form of an
// internationalised domain either names it in: its smart host is the
// organisation's, and its authserv-id is removed at the front door.
func TestFrontDoorIDsIDNDomain(t *testing.T) {
	for _, forms := range [][2]string{{"bücher.example", "xn--bcher-kva.example"}, {"XN--BCHER-KVA.example", "Bücher.example."}} {
		c := &config.Config{Server: config.Server{Name: "edge1.corp.test"},
			AcceptedDomains: []config.AcceptedDomain{{Domain: forms[0], Type: "authoritative"}},
			SendConnectors: []config.SendConnector{
				{Name: "inside", SmartHosts: []string{"mbx.corp.test"}, AddressSpaces: []config.AddressSpace{{Domain: forms[1]}}},
			}}
		if ids := frontDoorIDs(c); !slices.Contains(ids.Org, "mbx.corp.test") {
			t.Errorf("accepted %q, address space %q: organisation ids %q lack the smart host", forms[0], forms[1], ids.Org)
		}
	}
}
