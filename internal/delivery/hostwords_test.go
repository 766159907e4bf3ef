package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// Q-3, OPS-5 (errtext44): umbra's words on an attempt are written with
// the queue's constructors (queue/hostwords.go) and read back by the
// same package, so a real failed delivery is classified as it happened:
// a refused connection is a host not reached (the DSN says so in
// words; the map shows no contact); a host that took the connection and
// never greeted stopped answering (a contact); a host that refused
// STARTTLS where TLS is required, or answered with a 4.4.1 of its own
// (a relay's reply about a host beyond it), was reached, and the DSN
// quotes the relay's reply as its own.
func TestQ3DeliveryWordsReadBackByTheQueue(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.160:8602") // takes the connection, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	startSink(t, "127.0.0.160:8603", false, nil) // no STARTTLS
	relay := startSink(t, "127.0.0.160:8604", false, nil)
	beyond := "451 4.4.1 connect to far.example[192.0.2.9]:25: dial tcp 192.0.2.9:25: connect: connection refused"
	relay.answers["r@far.example"] = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 1},
		Message: strings.TrimPrefix(beyond, "451 4.4.1 ")}
	dns := &fakeDNS{hosts: map[string][]string{"mx.test": {"127.0.0.160"}}}

	for _, c := range []struct {
		name, port, tls, rcpt string
		notReached, stopped   bool
		dsnSays               string
	}{
		{"refused connection", "38601", config.TLSNone, "r@down.example", true, false, "could not be reached (connection refused)"},
		{"no greeting", "8602", config.TLSNone, "r@silent.example", false, true, "stopped answering: no greeting"},
		{"STARTTLS refused under a required policy", "8603", config.TLSRequired, "r@plain.example", false, false, "Status: 4.7.5"},
		{"a relay's own 4.4.1 about a host beyond it", "8604", config.TLSNone, "r@far.example", false, false, "Diagnostic-Code: smtp; " + beyond},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
				SmartHosts: []string{"mx.test:" + c.port}, TLS: c.tls}
			d := newDeliverer(t, dns, config.Mailbox{}, sc)
			m := message(c.rcpt)
			r := d.Deliver(context.Background(), m, body, all(m))[0]
			if r.Outcome != queue.Deferred {
				t.Fatalf("%+v; want deferred", r)
			}
			if got := queue.NotReached(r.Reply, r.NextHop, r.Queue); got != c.notReached {
				t.Errorf("%q at %s: not reached %v; want %v", r.Reply, r.NextHop, got, c.notReached)
			}
			if got := queue.StoppedAnswering(r.Reply, r.NextHop); got != c.stopped {
				t.Errorf("%q at %s: stopped answering %v; want %v", r.Reply, r.NextHop, got, c.stopped)
			}
			m.Rcpts[0] = queue.Recipient{Addr: c.rcpt, Notify: queue.NotifyDelay, Status: queue.Pending,
				Queue: r.Queue, NextHop: r.NextHop, LastReply: r.Reply}
			at := time.Now()
			m.Arrived = at.Add(-time.Hour)
			dsn := string(queue.BuildDSNBody("mx.test", m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")), queue.NotifyDelay, []int{0}, at, at, 0xDEF, 0, queue.Inside{}))
			if !strings.Contains(dsn, c.dsnSays) {
				t.Errorf("the delay notice of %q does not say %q:\n%s", r.Reply, c.dsnSays, dsn)
			}
		})
	}
}

// Q-3 (errtext44, a sibling): delivery tells a session that broke by
// its own words naming the hop (queue.SessionBroke), not by the code:
// a host's own "451 4.4.2" to one RCPT is its answer for that
// recipient. In lock step (no PIPELINING) the others are tried in the
// same session and the message goes to them — "451 4.4.2" read as a
// lost connection deferred every recipient after it, untried, with the
// first one's reply; pipelined, the session stays open for the next
// message (it was closed as broken).
func TestQ3HostsOwn442ToRcptIsNoBrokenSession(t *testing.T) {
	const own = "451 4.4.2 downstream connection lost, try later"
	dns := &fakeDNS{hosts: map[string][]string{"mx.test": {"127.0.0.160"}}}
	connector := func(port string) config.SendConnector {
		return config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
			SmartHosts: []string{"mx.test:" + port}, TLS: config.TLSNone}
	}
	t.Run("lock step", func(t *testing.T) {
		s := &scripted{refuse: map[string]string{"busy@x.example": own}}
		s.startAt(t, "127.0.0.160:8606")
		d := newDeliverer(t, dns, config.Mailbox{}, connector("8606"))
		m := message("busy@x.example", "ok@x.example")
		got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
		if r := got["busy@x.example"]; r.Outcome != queue.Deferred || r.Reply != own {
			t.Errorf("the refused recipient: %+v; want deferred with the host's reply", r)
		}
		if r := got["ok@x.example"]; r.Outcome != queue.RelayedOK {
			t.Errorf("the recipient after a host's own 451 4.4.2: %+v; want relayed in the same session", r)
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		s := startSink(t, "127.0.0.160:8605", false, nil)
		s.answers["busy@x.example"] = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: strings.TrimPrefix(own, "451 4.4.2 ")}
		d := newDeliverer(t, dns, config.Mailbox{}, connector("8605"))
		for _, rc := range []string{"busy@x.example", "ok@x.example"} {
			m := message(rc)
			d.Deliver(context.Background(), m, body, all(m))
		}
		s.mu.Lock()
		conns := s.conns
		s.mu.Unlock()
		if conns != 1 {
			t.Errorf("%d connections for two messages; want the session kept after the host's own 451 4.4.2", conns)
		}
	})
}
