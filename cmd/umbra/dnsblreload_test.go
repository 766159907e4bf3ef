package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/resolver/dnstest"
)

// EDGE-1, OPS-1: a DNS list's state — the episode of its failures, the
// paced WARN "DNS list not answered" and its "answers again" — is the
// list's while a configuration asks it. A reload that removes the list
// forgets it: added back by a later reload, the list is a new one, and
// its first failure is warned of at once. Seen to fail first: the list
// added back started inside its old episode, its failure within the
// minute taken for one already warned of (DEBUG only), so the operator
// who had just re-enabled a broken list saw nothing.
func TestDNSBLRemovedListForgetsItsEpisode(t *testing.T) {
	dir := t.TempDir()
	const listen = "127.0.0.175:10125"
	dns := dnstest.StartOn(t, "127.0.0.175:10153")
	dns.Fail("flaky.test") // every question under the zone: SERVFAIL
	config := func(zones ...string) {
		t.Helper()
		lists := ""
		for _, z := range zones {
			lists += "          - zone: " + z + "\n"
		}
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
%sdns:
  servers: [%q]
  timeout: 500ms
  attempts: 1
mailbox:
  maildir: maildir
`, filepath.Join(dir, "data"), listen, lists, dns.Addr)
		if err := os.WriteFile(filepath.Join(dir, "umbra.yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config("flaky.test", "steady.test")
	d := startUmbra(t, filepath.Join(dir, "umbra.yaml"), listen)
	d.dumpLogIfFailed()
	greet := func() {
		t.Helper()
		c, err := smtpClientFrom("127.0.0.175", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("client.test"); err != nil {
			t.Fatalf("a list not answering counts as not listing: %v", err)
		}
	}
	warns := func() int {
		n := 0
		for _, l := range strings.Split(readFile(d.log), "\n") {
			if strings.Contains(l, "DNS list not answered: counted as not listing") && strings.Contains(l, "WARN") &&
				strings.Contains(l, "flaky.test") {
				n++
			}
		}
		return n
	}
	reload := func(n int, zones ...string) {
		t.Helper()
		config(zones...)
		if err := d.hup(); err != nil {
			t.Fatal(err)
		}
		waitLogCount(t, d, "configuration reloaded", n)
	}

	greet()
	if n := warns(); n != 1 {
		t.Fatalf("the list's first failure: %d WARNs, want 1", n)
	}
	reload(1, "steady.test")               // the operator takes the broken list out,
	reload(2, "flaky.test", "steady.test") // and puts it back within the minute
	greet()
	if n := warns(); n != 2 {
		t.Fatalf("the first failure of a list a reload added back: %d WARNs in all, want 2 (a new list's first failure, warned of at once)", n)
	}
}
