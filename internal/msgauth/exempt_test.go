package msgauth

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// failingResolver fails the test on any lookup: exempt sessions ask
// nothing.
type failingResolver struct{ t *testing.T }

func (r failingResolver) fail(name string) error {
	r.t.Errorf("lookup of %s", name)
	return &net.DNSError{Err: "unexpected", Name: name, IsNotFound: true}
}
func (r failingResolver) LookupMX(_ context.Context, n string) ([]*net.MX, error) {
	return nil, r.fail(n)
}
func (r failingResolver) LookupHost(_ context.Context, n string) ([]string, error) {
	return nil, r.fail(n)
}
func (r failingResolver) LookupIPAddr(_ context.Context, n string) ([]net.IPAddr, error) {
	return nil, r.fail(n)
}
func (r failingResolver) LookupTXT(_ context.Context, n string) ([]string, error) {
	return nil, r.fail(n)
}
func (r failingResolver) LookupAddr(_ context.Context, n string) ([]string, error) {
	return nil, r.fail(n)
}
func (r failingResolver) Lookup(_ context.Context, n string, _ uint16) (*resolver.Answer, error) {
	return nil, r.fail(n)
}

// Sessions of the organisation's transport servers are neither checked
// nor edited; authenticated submissions are not checked, but a result
// claiming umbra's authserv-id is removed.
func TestExemptSessions(t *testing.T) {
	cfg := config.MessageAuthentication{Profile: "internet", AuthservID: "mx.example.test", SPF: "reject", HeloSPF: "reject",
		DKIM: "reject", ARC: "reject", DMARC: "policy", MaxSignatures: 5, Timeout: config.Duration(1e9)}
	c := New(cfg, failingResolver{t}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	msg := "Authentication-Results: mx.example.test; dmarc=pass\r\nAuthentication-Results: other.test; spf=pass\r\n" +
		message("a@reject.test", "exempt")
	ip := netip.MustParseAddr("192.0.2.9")

	tx := &smtp.Transaction{From: "a@reject.test", Content: []byte(msg)}
	if v := c.Data(context.Background(), &smtp.ConnInfo{IP: ip, Helo: "hub.test", Server: true}, tx); !reflect.DeepEqual(v, smtp.Verdict{}) {
		t.Errorf("server session: %+v", v)
	}
	if string(tx.Content) != msg {
		t.Errorf("server session's message edited:\n%s", tx.Content)
	}

	tx = &smtp.Transaction{From: "a@reject.test", Content: []byte(msg)}
	if v := c.Data(context.Background(), &smtp.ConnInfo{IP: ip, Helo: "laptop", User: "alice"}, tx); !reflect.DeepEqual(v, smtp.Verdict{}) {
		t.Errorf("authenticated session: %+v", v)
	}
	if want := strings.TrimPrefix(msg, "Authentication-Results: mx.example.test; dmarc=pass\r\n"); string(tx.Content) != want {
		t.Errorf("authenticated session's message:\n%s\nwant\n%s", tx.Content, want)
	}
}
