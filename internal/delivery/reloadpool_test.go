package delivery

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// heldSession is a sink's session whose first DATA waits until the test
// lets it go: an attempt held in flight.
type heldSession struct {
	*sinkSession
	hold    *sync.Once
	inData  chan struct{}
	release chan struct{}
}

func (hs *heldSession) Data(r io.Reader) error {
	hs.hold.Do(func() {
		close(hs.inData)
		select {
		case <-hs.release:
		case <-time.After(30 * time.Second):
		}
	})
	return hs.sinkSession.Data(r)
}

// TestSMTP4ReloadTLSRequiredNoSessionOfOldConfig (rr ops39 F1): a session
// opened under a send connector's tls: none by an attempt still under
// way when a reload makes the connector tls: required is not pooled
// into the new configuration: the next message (tls: required) is
// deferred for want of TLS, never sent in clear over the old session.
// Deliverer.Reload ends the sessions idle at that moment; one that
// finishes after it must not join the new pool.
func TestSMTP4ReloadTLSRequiredNoSessionOfOldConfig(t *testing.T) {
	inData, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var plain *sink
	plain = startSinkWith(t, "127.0.0.218:15600", false, nil, "sink.test", func(srv *gosmtp.Server) {
		srv.Backend = gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
			return &heldSession{sinkSession: &sinkSession{s: plain, c: c}, hold: &once, inData: inData, release: release}, nil
		})
	})
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "hub",
		AddressSpaces: []config.AddressSpace{{Domain: "far.example", Cost: 1}}, SmartHosts: []string{plain.addr}, TLS: config.TLSNone})
	first := make(chan []queue.Result, 1)
	go func() { m := message("a@far.example"); first <- d.Deliver(context.Background(), m, body, all(m)) }()
	select {
	case <-inData:
	case <-time.After(30 * time.Second):
		t.Fatal("the first message never reached DATA")
	}
	cfg := d.st.Load().cfg
	cfg.SendConnectors = slices.Clone(cfg.SendConnectors)
	cfg.SendConnectors[0].TLS = config.TLSRequired
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case res := <-first:
		if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
			t.Fatalf("first message (under tls: none): %+v", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first delivery did not return")
	}
	res := deliverBounded(t, d, message("b@far.example"))
	if got := plain.received(); len(got) != 1 {
		t.Fatalf("the smart host got %d messages, want 1: the second (tls: required since the reload) went in clear over the session of the old configuration", len(got))
	}
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "4") {
		t.Fatalf("second message: %+v, want deferred for want of TLS", res)
	}
}

// TestSMTP4RedirectPoolConnectorNamedRedirect (rr ops39 F2): a redirect of a
// recipient no send connector routes borrows no connector's settings
// (tls opportunistic); one of a recipient routed by a send connector
// that happens to be named "redirect" (tls: required) borrows that
// connector's. The session the first opened in clear to the target is
// not the second's: its mail is deferred for want of TLS, never sent in
// clear.
func TestSMTP4RedirectPoolConnectorNamedRedirect(t *testing.T) {
	plain := startSink(t, "127.0.0.218:15602", false, nil)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "redirect",
		AddressSpaces: []config.AddressSpace{{Domain: "strict.example", Cost: 1}}, SmartHosts: []string{"127.0.0.218:15603"}, TLS: config.TLSRequired})
	var res []queue.Result
	for _, rcpt := range []string{"a@example.test", "b@strict.example"} {
		m := message(rcpt)
		m.Rcpts[0].Redirect = plain.addr
		res = deliverBounded(t, d, m)
	}
	if got := plain.received(); len(got) != 1 {
		t.Fatalf("the redirect target got %d messages, want 1: b@strict.example (connector redirect, tls: required) went in clear on the session of a@example.test's redirect", len(got))
	}
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "4") {
		t.Fatalf("b@strict.example: %+v, want deferred for want of TLS", res)
	}
}
