package delivery

import (
	"context"
	"log/slog"
	"strings"
	"sync"
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

// rt26 F7: an attempt the stop cut was logged as "next hop host failed"
// with the cancellation or a timeout as the host's error.
func TestStopCutIsNotLoggedAsHostFailure(t *testing.T) {
	s := startDSNSink(t, true)
	sc := config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{s.addr}, TLS: config.TLSNone, Port: 25}
	table := routing.NewTable(nil, []routing.Connector{{Name: "out", Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
	var logged strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{sc},
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the stop came first
	m := &queue.Message{ID: 0xD7, From: "s@example.org", Size: 40, Rcpts: []queue.Recipient{{Addr: "x@remote.example"}}}
	d.Deliver(ctx, m, body, all(m))
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logged.String(), "next hop host failed") {
		t.Fatalf("a stop logged as the host's failure:\n%s", logged.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
