package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RT-11, rt36 front F2: on a hub with no `*` send connector, the DSN to
// a sender's address literal or IP-address text was deferred "451 4.4.4
// no send connector for domain [127.0.0.1]" and retried until
// message_expiration, while route explain and the README say it fails at
// once with 550 5.1.2. Real SMTP in, a real transport database, a
// refusing next hop: the DSN fails at once and leaves the queue.
func TestDaemonDSNToAnAddressSenderFailsAtOnceWithoutAConnector(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.180:10010"
	sinkAddr := reserveAddr(t, "127.0.0.180")
	cfg := fmt.Sprintf(`server:
  name: hub.e2e.test
  data_dir: %s
  metrics_listen: ""
transport:
  retry_schedule: [1s]
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
  - name: fail
    address_spaces: [{domain: fail.test, cost: 1}]
    smart_hosts: [%q]
    tls: none
mailbox:
  maildir: maildir
`, filepath.Join(dir, "data"), listen, sinkAddr)
	p := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startRefusingSink(t, sinkAddr, "nobody@fail.test")
	d := startUmbra(t, p, listen)
	for _, from := range []string{"a@[127.0.0.1]", "b@127.0.0.1"} {
		if r := rawSend(t, listen, from, []string{"nobody@fail.test"}, "Subject: f2\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
			t.Fatalf("DATA from %s: %s", from, r)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(d.log)
		log := string(b)
		failed := strings.Count(log, "550 5.1.2 [127.0.0.1] is an address literal") > 0 &&
			strings.Count(log, "550 5.1.2 127.0.0.1 is an IP address") > 0
		if failed {
			if strings.Contains(log, "no send connector serves [127.0.0.1]") || strings.Contains(log, "no send connector serves 127.0.0.1") {
				t.Fatalf("a DSN to an address sender was deferred for want of a connector:\n%s", log)
			}
			break
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("the DSNs to address senders did not fail with 550 5.1.2")
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := cli(t, p, "message", "list")
	if strings.Contains(out, "127.0.0.1") {
		t.Errorf("a DSN to an address sender is still queued:\n%s", out)
	}
}
