package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/config"
	"umbra/internal/testsupport"
)

// writeSelfSigned writes a certificate for 127.0.0.1 and its key.
func writeSelfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub-a"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "console-cert.pem"), filepath.Join(dir, "console-key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// The web console in a real headless Chromium against a real daemon:
// hub-a (hub site a) shadows what it relayed to hub-b (site b, whose
// outbound smart host defers everything, so it keeps the mail and hub-a
// its shadow copies), and queues mail for far.example, whose smart host
// (connector "far", sourced on hub-a) defers too. hub-c (site c) never
// runs.
// The browser logs in, reads every page, suspends and resumes a message
// (the form's CSRF token makes the round trip), is refused a POST
// without the token, and finds every site and link on the map, a
// screenshot of which is written as the test's artifact.
func TestConsoleInBrowser(t *testing.T) {
	chromiumPath(t)
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	consoleAddr := freeAddr(t, "127.0.0.1")
	// The state the pages show is held, not left to timing: hub-b's and
	// hub-a's next hops are listeners of this test that defer every
	// delivery (no other process can take their ports and accept the
	// mail, after which hub-b would discard hub-a's copies), and hub-a
	// does not take the copies over however many of its heartbeats a
	// loaded machine makes fail.
	sink, far := deferringSink(t), deferringSink(t)
	topo := fmt.Sprintf(`sites:
  - {name: a, hub_site: true}
  - {name: b}
  - {name: c}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
  - {name: b-c, sites: [b, c], cost: 20, umbra_cost: 5}
  - {name: a-c, sites: [a, c], cost: 40}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: c, address: %q}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-b], smart_hosts: [%q]}
  - {name: far, address_spaces: [{domain: "far.example", cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, a, b, c, sink, far)
	topoPath := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topoPath, []byte(topo), 0o600)
	cert, key := writeSelfSigned(t, dir)
	hash, _ := bcrypt.GenerateFromPassword([]byte("console-pass"), bcrypt.MinCost)
	creds := filepath.Join(dir, "console-users")
	os.WriteFile(creds, []byte("ops:"+string(hash)+"\n"), 0o600)
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", fmt.Sprintf(`console:
  listen: %q
  cert_file: %s
  key_file: %s
  credentials_file: %s
`, consoleAddr, cert, key, creds))
	editConfig(t, cfgA, "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 100000")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	startUmbra(t, cfgB, b)
	hubA := startUmbra(t, cfgA, a)

	sendMany(a, "shadowed", 2, 1, nil)
	for i := 0; i < 2; i++ {
		rawSend(t, a, "ops@example.org", []string{fmt.Sprintf("user%d@far.example", i)},
			fmt.Sprintf("From: ops@example.org\r\nTo: user%d@far.example\r\nSubject: far-%d\r\n\r\nfar away\r\n", i, i))
	}
	var farQueue string
	waitCond(t, "hub-a to hold 2 shadow copies for hub-b and 2 messages for far.example", 60*time.Second, func() bool {
		out, _ := cli(t, cfgA, "queue", "list", "--json")
		var qs []struct {
			Name  string
			Count int `json:"message_count"`
		}
		json.Unmarshal([]byte(out), &qs)
		shadows, farN := 0, 0
		for _, q := range qs {
			switch {
			case q.Name == "shadow:hub-b":
				shadows = q.Count
			case strings.Contains(q.Name, "far"):
				farQueue, farN = q.Name, q.Count
			}
		}
		return shadows == 2 && farN == 2
	})

	br := startBrowser(t)
	base := "https://" + consoleAddr
	br.navigate(base + "/map")
	var path string
	br.eval(`location.pathname`, &path)
	if path != "/login" {
		t.Fatalf("the map without a login shows %s, want /login", path)
	}
	br.submit(`document.getElementById("user").value = "ops";
		document.getElementById("password").value = "console-pass";
		document.getElementById("login-button").click()`)
	br.eval(`location.pathname`, &path)
	if path != "/map" {
		hubA.dumpLog()
		t.Fatalf("after login the browser is at %s, want /map (the page asked for)", path)
	}

	// The map: every site (a hub site marked), every link with its cost,
	// every server with its health as hub-a sees it.
	var m struct {
		Sites   map[string]bool
		Links   map[string]string
		Servers map[string]string
	}
	br.eval(`(() => {
		const sites = {}, links = {}, servers = {};
		document.querySelectorAll("#topology-map g.site").forEach(g => sites[g.dataset.site] = g.dataset.hub === "true");
		document.querySelectorAll("#topology-map g.link-label").forEach(g => links[g.dataset.link] = g.textContent.trim());
		document.querySelectorAll("#topology-map g.server").forEach(g => servers[g.dataset.server] = g.dataset.health);
		return {Sites: sites, Links: links, Servers: servers};
	})()`, &m)
	if len(m.Sites) != 3 || !m.Sites["a"] || m.Sites["b"] || m.Sites["c"] {
		t.Errorf("map sites (name: hub site): %v, want a (hub), b, c", m.Sites)
	}
	wantLinks := map[string]string{"a-b": "a-b: 10", "b-c": "b-c: 5 (Exchange 20)", "a-c": "a-c: 40"}
	for name, label := range wantLinks {
		if m.Links[name] != label {
			t.Errorf("map link %s: %q, want %q", name, m.Links[name], label)
		}
	}
	if len(m.Links) != len(wantLinks) {
		t.Errorf("map links: %v", m.Links)
	}
	var segments int
	br.eval(`document.querySelectorAll("#topology-map g.link line").length`, &segments)
	if segments != 3 {
		t.Errorf("map draws %d link lines, want 3", segments)
	}
	if m.Servers["hub-a"] != "self" || m.Servers["hub-b"] != "ok" || m.Servers["hub-c"] != "unknown" {
		t.Errorf("map server health: %v, want hub-a self, hub-b ok (heartbeats and relaying answer), hub-c unknown", m.Servers)
	}
	var heartbeat string
	br.eval(`document.querySelector('#servers tr[data-server="hub-b"]').textContent`, &heartbeat)
	if !strings.Contains(heartbeat, "shadow via hub-b") {
		t.Errorf("hub-b's row lacks its last delivery result: %q", heartbeat)
	}
	shot := filepath.Join(t.TempDir(), "console-map.png")
	if d := os.Getenv("UMBRA_ARTIFACTS"); d != "" {
		os.MkdirAll(d, 0o755)
		shot = filepath.Join(d, "console-map.png")
	}
	br.screenshot("figure.map", shot)
	t.Logf("map screenshot: %s", shot)

	// Queues, with the far queue and the shadow queue.
	br.navigate(base + "/")
	var queues []string
	br.eval(`[...document.querySelectorAll("#queues tr[data-queue]")].map(r => r.dataset.queue)`, &queues)
	sort.Strings(queues)
	if d := os.Getenv("UMBRA_ARTIFACTS"); d != "" {
		br.screenshot("body", filepath.Join(d, "console-queues.png"))
	}
	if !contains(queues, farQueue) || !contains(queues, "shadow:hub-b") {
		out, _ := cli(t, cfgA, "queue", "list")
		t.Errorf("queues page lists %v, want %s and shadow:hub-b; queue list says:\n%s", queues, farQueue, out)
	}
	// The shadow queue's status, as queue list shows it: its copies are
	// only held for hub-b (rt24 F4).
	var shadowStatus string
	br.eval(`(document.querySelector('#queues tr[data-queue="shadow:hub-b"]') || {dataset: {}}).dataset.status || ""`, &shadowStatus)
	if shadowStatus != "shadow" {
		t.Errorf("queues page shows shadow:hub-b %q, want shadow", shadowStatus)
	}

	// Shadow state per primary.
	br.navigate(base + "/shadows")
	var copies string
	br.eval(`document.querySelector('#shadows tr[data-primary="hub-b"] td.copies').textContent`, &copies)
	if copies != "2" {
		out, _ := cli(t, cfgA, "shadow", "list")
		t.Errorf("shadow copies for hub-b: %q, want 2; shadow list says:\n%s", copies, out)
	}

	// A message action end to end: suspend a far.example message from the
	// list (the form carries the CSRF token), see it suspended in the page
	// and in the daemon, then resume it.
	br.navigate(base + "/messages?queue=" + farQueue)
	var ids []string
	br.eval(`[...document.querySelectorAll("#messages tr[data-id]")].map(r => r.dataset.id)`, &ids)
	if len(ids) != 2 {
		t.Fatalf("messages of %s: %v, want 2", farQueue, ids)
	}
	id := ids[0]
	if d := os.Getenv("UMBRA_ARTIFACTS"); d != "" {
		br.screenshot("body", filepath.Join(d, "console-messages.png"))
	}
	// The message is retried every second (its next hop refuses): an
	// action that meets an attempt in progress is refused with "try again
	// in a moment", as the operator would be told; so try again.
	var flash, state string
	for try := 0; ; try++ {
		br.submit(`document.querySelector('#messages tr[data-id="` + id + `"] button[data-op="suspend"]').click()`)
		br.eval(`(document.getElementById("flash") || {}).textContent || ""`, &flash)
		if !strings.Contains(flash, "is being delivered; try again") || try == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
		br.navigate(base + "/messages?queue=" + farQueue)
	}
	br.eval(`document.querySelector('#messages tr[data-id="`+id+`"]').dataset.state`, &state)
	if !strings.Contains(flash, "message suspend "+id+": done") || state != "suspended" {
		t.Fatalf("after Suspend: flash %q, state %q", flash, state)
	}
	out, _ := cli(t, cfgA, "message", "show", id, "--json")
	if !strings.Contains(out, `"state": "suspended"`) {
		t.Fatalf("the daemon does not have %s suspended:\n%s", id, out)
	}
	// The same form without its token, submitted from the console's own
	// page (so with its Origin and cookie), is refused and changes nothing.
	br.submit(`(() => { const f = document.querySelector('#messages tr[data-id="` + id + `"] button[data-op="resume"]').form;
		f.querySelector('input[name="csrf"]').remove(); f.submit(); })()`)
	var refused string
	br.eval(`document.body.textContent`, &refused)
	if !strings.Contains(refused, "missing or wrong CSRF token") {
		t.Errorf("a form without the CSRF token: page %q, want the refusal", refused)
	}
	out, _ = cli(t, cfgA, "message", "show", id, "--json")
	if !strings.Contains(out, `"state": "suspended"`) {
		t.Fatalf("a POST without the token resumed %s", id)
	}
	br.navigate(base + "/messages/" + id)
	br.submit(`document.querySelector('button[data-op="resume"]').click()`)
	br.eval(`(document.getElementById("flash") || {}).textContent || ""`, &flash)
	br.eval(`document.getElementById("state").textContent`, &state)
	if !strings.Contains(flash, "message resume "+id+": done") || state == "suspended" {
		t.Fatalf("after Resume: flash %q, state %q", flash, state)
	}
	var bodyShown bool
	br.eval(`document.body.textContent.includes("far away")`, &bodyShown)
	if bodyShown {
		t.Error("the message page shows the message body")
	}

	// Tracking search and the dumpster page load.
	br.navigate(base + "/track?sender=ops@example.org")
	var events []string
	br.eval(`[...document.querySelectorAll("#track tr[data-event]")].map(r => r.dataset.event)`, &events)
	if !contains(events, "receive") {
		t.Errorf("tracking search for ops@example.org: events %v, want a receive", events)
	}
	br.navigate(base + "/dumpster")
	var hasTable bool
	br.eval(`document.getElementById("dumpster") !== null`, &hasTable)
	if !hasTable {
		t.Error("the dumpster page has no table")
	}
}

// deferringSink is a next hop on 127.0.0.1 that defers every delivery
// (421 at its greeting), held by the test for its whole run.
func deferringSink(t *testing.T) string {
	t.Helper()
	ln := testsupport.Serve(t, "127.0.0.1:0", func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("421 4.3.2 not now\r\n"))
		c.Close()
	})
	return ln.Addr()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Without console.listen (the default) no console listener is opened.
func TestConsoleOffByDefault(t *testing.T) {
	cfg, err := config.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Console.Listen != "" {
		t.Fatalf("the default configuration serves a console on %s", cfg.Console.Listen)
	}
	s, err2 := startConsole(cfg, nil, nil, nil, nil, nil)
	if s != nil || err2 != nil {
		t.Fatalf("startConsole without console.listen: %v, %v", s, err2)
	}
}
