package delivery

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// A recipient queued with a final dot on its domain (by a release whose
// pickup did not make it canonical) is delivered as its canonical address
// (SR-12, rt16d F1): into the Maildir the user reads, and relayed to the
// next hop without the dot; no directory "example.test." is made.
func TestDeliveryUsesCanonicalAddress(t *testing.T) {
	root := t.TempDir()
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
	m := message("U@Example.Test.")
	for _, r := range d.Deliver(context.Background(), m, body, all(m)) {
		if r.Outcome != queue.DeliveredOK {
			t.Fatalf("%+v", r)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(root, "example.test", "u", "new", "*")); len(files) != 1 {
		t.Errorf("example.test/u/new: %v", files)
	}
	if _, err := os.Stat(filepath.Join(root, "example.test.")); err == nil {
		t.Error("a directory for the dotted domain was made")
	}

	s := startSink(t, "127.0.0.2:0", false, nil)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d = newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	m = message("u@Example.Net.")
	m.From = "s@Example.Org."
	for _, r := range d.Deliver(context.Background(), m, body, all(m)) {
		if r.Outcome != queue.RelayedOK {
			t.Fatalf("%+v", r)
		}
	}
	if r := s.received(); len(r) != 1 || len(r[0].rcpts) != 1 || r[0].rcpts[0] != "u@example.net" || r[0].from != "s@example.org" {
		t.Fatalf("next hop got %+v, want MAIL FROM:<s@example.org> RCPT TO:<u@example.net>", r)
	}
}
