package delivery

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/recipients"
)

// TestVerifyAsksTheNextHop: the callout routes like mail (here a smart
// host), runs MAIL FROM:<> and RCPT without DATA, and maps 250 to known,
// 5xx to unknown, 4xx and a dead next hop to cannot decide.
func TestVerifyAsksTheNextHop(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	s.answers["nobody@relay.test"] = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	s.answers["later@relay.test"] = &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 2, 1}, Message: "try later"}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
		AddressSpaces: []config.AddressSpace{{Domain: "relay.test", Cost: 1}}, SmartHosts: []string{s.addr}, TLS: config.TLSNone})
	ctx := context.Background()
	for addr, want := range map[string]recipients.Verdict{"alice@relay.test": recipients.Known,
		"nobody@relay.test": recipients.Unknown, "later@relay.test": recipients.CannotDecide} {
		v, reply, err := d.Verify(ctx, addr)
		if v != want || (v == recipients.CannotDecide) != (err != nil) {
			t.Errorf("%s: %v %q %v, want %v", addr, v, reply, err, want)
		}
	}
	if v, reply, _ := d.Verify(ctx, "nobody@relay.test"); reply != "550 5.1.1 no such user" || v != recipients.Unknown {
		t.Errorf("reply %q", reply)
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("a callout sent DATA: %+v", got)
	}
	s.srv.Close()
	if v, _, err := d.Verify(ctx, "alice@relay.test"); v != recipients.CannotDecide || err == nil {
		t.Errorf("next hop down: %v %v", v, err)
	}
}

type knownOnly map[string]bool

func (k knownOnly) Check(_ context.Context, a string) (recipients.Verdict, error) {
	if k[a] {
		return recipients.Known, nil
	}
	return recipients.Unknown, nil
}

// TestMaildirRefusesUnknownRecipient: whatever path a message took
// (pickup, a queue from before validation), an address the directory does
// not know gets no Maildir of its own but a permanent failure; postmaster
// is always delivered.
func TestMaildirRefusesUnknownRecipient(t *testing.T) {
	root := t.TempDir()
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
	d.SetRecipients(knownOnly{"alice@example.test": true})
	// "poſtmaster" (U+017F) is not postmaster: only ASCII case folds.
	m := message("alice@example.test", "rnd123@example.test", "postmaster@example.test", "poſtmaster@example.test")
	res := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if res["alice@example.test"].Outcome != queue.DeliveredOK || res["postmaster@example.test"].Outcome != queue.DeliveredOK {
		t.Fatalf("known recipients: %+v", res)
	}
	for _, u := range []string{"rnd123", "poſtmaster"} {
		if r := res[u+"@example.test"]; r.Outcome != queue.FailedPerm || r.Reply[:9] != "550 5.1.1" {
			t.Fatalf("unknown recipient %s: %+v", u, r)
		}
		if _, err := os.Stat(filepath.Join(root, "example.test", u)); !os.IsNotExist(err) {
			t.Fatalf("a Maildir was made for an unknown recipient %s: %v", u, err)
		}
	}
}
