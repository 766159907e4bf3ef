package delivery

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// selfQueue is the receiving side of a relay to this server itself: it
// presents the deliverer's own transport database id and counts what
// it is handed.
type selfQueue struct{ submitted atomic.Int32 }

func (q *selfQueue) NewID() queue.ID { return 7 }
func (q *selfQueue) Submit(context.Context, *queue.Message, []byte) error {
	q.submitted.Add(1)
	return nil
}
func (q *selfQueue) WaitGone(queue.ID) (<-chan struct{}, func()) { return nil, func() {} }
func (q *selfQueue) Discards(string, int) ([]string, func())     { return nil, func() {} }
func (q *selfQueue) DatabaseID() string                          { return "self-db" }

// A next hop whose shadow session presents this server's own database id
// is this server (a copy-pasted address, a smart host pointing back):
// relaying would loop, and a merged copy once lost the message. The
// recipients are deferred with 4.4.6 naming the hop; nothing is handed
// over.
func TestNoRelayToItself(t *testing.T) {
	cfg, err := config.Parse([]byte(`server: {name: hub.test}
receive_connectors:
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay, accept-xshadow]}
`), "self.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q := &selfQueue{}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "hub.test", Connectors: cfg.ReceiveConnectors,
		Queue: q, Shadow: q, ShadowEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	sc := config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{srv.Addrs()[0].String()}, TLS: config.TLSNone, SendXShadow: true}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	d.st.Load().cfg.ShadowServerID = "hub.test"
	d.SetDatabaseID("self-db")

	m := &queue.Message{ID: 1, From: "a@corp.test", Rcpts: []queue.Recipient{{Addr: "x@ext.test"}}}
	res := d.Deliver(context.Background(), m, []byte("Subject: t\r\n\r\nhi\r\n"), []int{0})
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.6") {
		t.Fatalf("relay to itself: %+v", res)
	}
	if !queue.RoutingLoop(res[0].Reply, res[0].NextHop) {
		// The queue's reading of the loop (feedback: no failed contact)
		// is of the words the constructor writes.
		t.Errorf("relay to itself deferred %q against %q: not read as the routing loop", res[0].Reply, res[0].NextHop)
	}
	if n := q.submitted.Load(); n != 0 {
		t.Fatalf("%d copies handed to this server itself", n)
	}
}
