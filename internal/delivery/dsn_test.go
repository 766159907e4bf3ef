package delivery

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// dsnSink records the DSN parameters it is given; dsn decides whether it
// advertises DSN at all.
type dsnSink struct {
	mu    sync.Mutex
	mail  []gosmtp.MailOptions
	rcpt  []gosmtp.RcptOptions
	addr  string
	inner *gosmtp.Server
}

type dsnSession struct{ s *dsnSink }

func (ss dsnSession) Mail(_ string, o *gosmtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if o != nil {
		ss.s.mail = append(ss.s.mail, *o)
	}
	return nil
}

func (ss dsnSession) Rcpt(_ string, o *gosmtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if o != nil {
		ss.s.rcpt = append(ss.s.rcpt, *o)
	}
	return nil
}

func (ss dsnSession) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (ss dsnSession) Reset()                 {}
func (ss dsnSession) Logout() error          { return nil }

func startDSNSink(t *testing.T, dsn bool) *dsnSink {
	t.Helper()
	s := &dsnSink{}
	s.inner = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return dsnSession{s}, nil }))
	s.inner.Domain, s.inner.EnableDSN, s.inner.ErrorLog = "next.test", dsn, nopLog{}
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go s.inner.Serve(ln)
	t.Cleanup(func() { s.inner.Close() })
	return s
}

// RFC 3461 relay semantics: NOTIFY, ORCPT, RET and ENVID go on to a next
// hop that advertises DSN, and the result says so (the queue then sends
// no success DSN); to one that does not, nothing is passed and the
// result says so too (the queue reports "relayed").
func TestDSNParametersPassedOn(t *testing.T) {
	for _, dsn := range []bool{true, false} {
		testDSNParametersPassedOn(t, dsn, true, false, gosmtp.DSNReturnFull)
		testDSNParametersPassedOn(t, dsn, false, true, gosmtp.DSNReturnHeaders)
		testDSNParametersPassedOn(t, dsn, false, false, "")
	}
}

func testDSNParametersPassedOn(t *testing.T, dsn, retFull, retHdrs bool, wantRet gosmtp.DSNReturn) {
	t.Helper()
	{
		s := startDSNSink(t, dsn)
		sc := config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
			SmartHosts: []string{s.addr}, TLS: config.TLSNone, Port: 25}
		table := routing.NewTable(nil, []routing.Connector{{Name: "out", Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
		d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{sc},
			ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		m := &queue.Message{ID: 0xD5, From: "s@example.org", Size: 40, EnvID: "env-42", RetFull: retFull, RetHdrs: retHdrs,
			Rcpts: []queue.Recipient{{Addr: "x@remote.example", Notify: queue.NotifySuccess | queue.NotifyFailure, ORcpt: "rfc822;orig@example.org"}}}
		res := d.Deliver(context.Background(), m, body, all(m))
		d.Close()
		if len(res) != 1 || res[0].Outcome != queue.RelayedOK || res[0].DSNPassed != dsn {
			t.Fatalf("DSN advertised %v: %+v", dsn, res)
		}
		s.mu.Lock()
		mail, rcpt := s.mail, s.rcpt
		s.mu.Unlock()
		if !dsn {
			if len(mail) != 1 || mail[0].EnvelopeID != "" || mail[0].Return != "" {
				t.Errorf("MAIL parameters passed to a hop without DSN: %+v", mail)
			}
			return
		}
		if len(mail) != 1 || mail[0].EnvelopeID != "env-42" || mail[0].Return != wantRet {
			t.Errorf("RET full %v, headers %v: MAIL parameters not passed on as RET=%q: %+v", retFull, retHdrs, wantRet, mail)
		}
		if len(rcpt) != 1 || len(rcpt[0].Notify) != 2 || rcpt[0].OriginalRecipient != "orig@example.org" ||
			rcpt[0].OriginalRecipientType != gosmtp.DSNAddressTypeRFC822 {
			t.Errorf("RCPT parameters not passed on: %+v", rcpt)
		}
	}
}

// An ORCPT of the utf-8 address type (RFC 6533 §3) goes on too, as
// utf-8-addr-xtext to a next hop without SMTPUTF8: dropping it would
// take the original recipient out of the DSN a later hop writes.
func TestUTF8OriginalRecipientPassedOn(t *testing.T) {
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
	m := &queue.Message{ID: 0xD6, From: "s@example.org", Size: 40,
		Rcpts: []queue.Recipient{{Addr: "x@remote.example", Notify: queue.NotifyFailure, ORcpt: "UTF-8;p\u00e9l\u00e9+1@example.org"}}}
	if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("results %+v", res)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rcpt) != 1 || s.rcpt[0].OriginalRecipientType != gosmtp.DSNAddressTypeUTF8 || s.rcpt[0].OriginalRecipient != "p\u00e9l\u00e9+1@example.org" {
		t.Errorf("RCPT parameters: %+v", s.rcpt)
	}
}
