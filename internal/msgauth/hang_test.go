package msgauth

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/smtp"
)

// message_authentication.timeout bounds all the work of one message —
// every SPF, DKIM, DMARC and ARC lookup together — not each lookup: with
// a DNS server that never answers (dns.timeout 2s, 2 attempts: 4 s a
// question, several questions a message) the message gets 451 4.7.0
// once the check's 500ms ran out, not after a multiple of it.
func TestMessageAuthenticationTimeoutBoundsTheWholeCheck(t *testing.T) {
	silent := dnstest.Start(t)
	silent.Drop(".")
	res, err := resolver.New(resolver.Config{Servers: []string{silent.Addr}, Timeout: 2 * time.Second, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.MessageAuthentication{Profile: "internet", AuthservID: "mx.example.test", SPF: "reject", HeloSPF: "reject",
		DKIM: "reject", ARC: "reject", DMARC: "policy", MaxSignatures: 5, Timeout: config.Duration(500 * time.Millisecond)}
	c := New(cfg, res, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	k := edKey(t)
	msg := dkimSign(t, message("a@hang.test", "hang"), "hang.test", "s1", k, "relaxed", "relaxed")
	tx := &smtp.Transaction{From: "a@hang.test", Content: []byte(msg)}
	start := time.Now()
	v := c.Data(context.Background(), &smtp.ConnInfo{IP: netip.MustParseAddr("192.0.2.9"), Helo: "mail.hang.test"}, tx)
	took := time.Since(start)
	if v.Reply == nil || !strings.Contains(v.Reply.Error(), "451") || !strings.Contains(v.Reply.Error(), "did not finish in time") {
		t.Fatalf("a DNS server that never answers: %+v, want 451 4.7.0 not finished in time", v)
	}
	if took > 2*time.Second {
		t.Fatalf("the check took %v with message_authentication.timeout 500ms", took)
	}
}
