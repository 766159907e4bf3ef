package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// rt26 F6: a DSN to a sender's address literal went to the smart host of a
// `*` send connector (and was retried there) instead of failing at once
// with 550 5.1.2, as it does on the MX path and as the README says. umbra
// routes by domain, through a smart host too; nothing reaches the host.
func TestAddressLiteralFailsThroughSmartHostToo(t *testing.T) {
	s := startDSNSink(t, true)
	sc := config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{s.addr}, TLS: config.TLSNone, Port: 25}
	table := routing.NewTable(nil, []routing.Connector{{Name: "out", Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{sc},
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := &queue.Message{ID: 0xD6, From: "", Size: 40, Rcpts: []queue.Recipient{{Addr: "lit@[127.0.26.9]"}}}
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.1.2") {
		t.Fatalf("a literal through a smart host: %+v, want 550 5.1.2 at once", res)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rcpt) != 0 {
		t.Fatalf("the smart host was given %d recipients", len(s.rcpt))
	}
}
