package smtp

import (
	"context"
	"errors"
	"testing"

	"umbra/internal/recipients"
)

// undecided is a callout whose next hop is down and that remembers
// nothing.
type undecided struct{}

func (undecided) Lookup(context.Context, string) (recipients.Verdict, error) {
	return recipients.CannotDecide, errors.New("hub down")
}

// TestRecipientValidationAtRCPT: at an authoritative domain only the
// directory's addresses are taken (unknown: 550 5.1.1, before any
// mailbox exists); at an internal relay domain whose callout cannot
// decide, 451 4.3.0 — never acceptance; postmaster always; relaying to
// other domains is not the validator's business.
func TestRecipientValidationAtRCPT(t *testing.T) {
	list, err := recipients.NewList([]string{"alice@example.test", "@catchall.test"})
	if err != nil {
		t.Fatal(err)
	}
	v := recipients.NewValidator([]recipients.DomainMode{
		{Pattern: "example.test", Mode: recipients.ModeDirectory},
		{Pattern: "relay.test", Mode: recipients.ModeCallout},
	}, recipients.Chain{list}, undecided{})
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	s.SetRecipients(v)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<random7@example.test>", "550 5.1.1")
	d.cmd("RCPT TO:<someone@relay.test>", "451 4.3.0")
	d.cmd("RCPT TO:<Postmaster@example.test>", "250")
	d.cmd("RCPT TO:<ALICE@example.test>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "550 5.7.1") // relay denied, as before
	d.cmd("DATA", "354")
	d.cmd("Subject: hi\r\n\r\nbody\r\n.", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1")
	d.cmd("DATA", "5") // no valid recipient: nothing is queued
	d.cmd("QUIT", "221")
	if q.count() != 1 || len(q.msgs[0].Rcpts) != 2 {
		t.Fatalf("submitted %d messages: %+v", q.count(), q.msgs)
	}
	for _, r := range q.msgs[0].Rcpts {
		if r.Addr != "Postmaster@example.test" && r.Addr != "ALICE@example.test" {
			t.Errorf("queued recipient %s", r.Addr)
		}
	}
}
