package delivery

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/recipients"
	"umbra/internal/testsupport"
)

// utf8Hub is a next hop that, like umbra's own front door, refuses a
// non-ASCII RCPT in a transaction whose MAIL did not say SMTPUTF8
// (553 5.6.7, RFC 6531 §3.5), and records what each MAIL said.
type utf8Hub struct {
	mu    sync.Mutex
	mails []bool // SMTPUTF8 said at each MAIL
}

type utf8HubSession struct {
	h    *utf8Hub
	utf8 bool
}

func (s *utf8HubSession) Mail(_ string, o *gosmtp.MailOptions) error {
	s.utf8 = o != nil && o.UTF8
	s.h.mu.Lock()
	s.h.mails = append(s.h.mails, s.utf8)
	s.h.mu.Unlock()
	return nil
}

func (s *utf8HubSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	for i := 0; i < len(to); i++ {
		if to[i] >= 0x80 && !s.utf8 {
			return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7}, Message: "non-ASCII addresses not permitted for the recipient"}
		}
	}
	if strings.HasPrefix(to, "nobody") {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	return nil
}
func (s *utf8HubSession) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (s *utf8HubSession) Reset()                 { s.utf8 = false }
func (s *utf8HubSession) Logout() error          { return nil }

func startUTF8Hub(t *testing.T, offer bool) (*utf8Hub, string) {
	t.Helper()
	h := &utf8Hub{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &utf8HubSession{h: h}, nil }))
	srv.Domain, srv.EnableSMTPUTF8, srv.ErrorLog = "hub.test", offer, nopLog{}
	ln := testsupport.Listen(t, "127.0.0.1:0")
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h, ln.Addr().String()
}

// TestCalloutSaysSMTPUTF8 (SMTP-6, rt24b F1): the recipient callout of
// an internationalised address says SMTPUTF8 at MAIL when the next hop
// offers it, as the delivery of a message to it does, so an address the
// hub accepts is not refused by the edge with 553 5.6.7. An ASCII
// address is asked as before (no SMTPUTF8). A next hop that does not
// offer SMTPUTF8 gets no probe it must refuse: the callout gives the
// answer delivery would get, the same 553 5.6.7 "does not support
// SMTPUTF8", not the hop's refusal of the recipient.
func TestCalloutSaysSMTPUTF8(t *testing.T) {
	ctx := context.Background()
	h, addr := startUTF8Hub(t, true)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
		AddressSpaces: []config.AddressSpace{{Domain: "catch.test", Cost: 1}}, SmartHosts: []string{addr}, TLS: config.TLSNone})
	if v, reply, err := d.Verify(ctx, "émile@catch.test"); v != recipients.Known {
		t.Fatalf("non-ASCII recipient the hub accepts: %v %q %v, want known", v, reply, err)
	}
	if v, reply, _ := d.Verify(ctx, "nobody-é@catch.test"); v != recipients.Unknown || reply != "550 5.1.1 no such user" {
		t.Fatalf("non-ASCII recipient the hub does not know: %v %q", v, reply)
	}
	if v, _, err := d.Verify(ctx, "alice@catch.test"); v != recipients.Known {
		t.Fatalf("ASCII recipient: %v %v", v, err)
	}
	h.mu.Lock()
	mails := append([]bool(nil), h.mails...)
	h.mu.Unlock()
	if len(mails) != 3 || !mails[0] || !mails[1] || mails[2] {
		t.Fatalf("SMTPUTF8 at MAIL per probe = %v, want [true true false]", mails)
	}

	h2, addr2 := startUTF8Hub(t, false)
	d2 := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-old",
		AddressSpaces: []config.AddressSpace{{Domain: "catch.test", Cost: 1}}, SmartHosts: []string{addr2}, TLS: config.TLSNone})
	v, reply, _ := d2.Verify(ctx, "émile@catch.test")
	if v != recipients.Unknown || !strings.HasPrefix(reply, "553 5.6.7 ") || !strings.Contains(reply, "does not support SMTPUTF8") {
		t.Fatalf("next hop without SMTPUTF8: %v %q, want delivery's 553 5.6.7 ... does not support SMTPUTF8", v, reply)
	}
	h2.mu.Lock()
	defer h2.mu.Unlock()
	if len(h2.mails) != 0 {
		t.Fatalf("a probe the hop must refuse was sent: %v", h2.mails)
	}
}
