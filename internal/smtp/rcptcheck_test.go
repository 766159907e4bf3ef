package smtp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"umbra/internal/queue"
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
	d.cmd(`RCPT TO:<"an na"@example.test>`, "550 5.1.1") // a quoted local part is an address the checks answer (rt29b F3)
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

// TestRecipientCaseFoldsASCIIOnly: umbra matches an address against its
// directory ignoring ASCII case only, and passes every address on as the
// sender wrote it. Unicode folding would merge distinct addresses: a
// KELVIN SIGN (U+212A) lowers to "k", a capital sharp s (U+1E9E) to
// "ß", so "\u212Aelvin" would reach the mailbox of "kelvin"; a domain
// with a KELVIN SIGN is refused (553 5.1.3: IDNA 2008 disallows it),
// never rewritten into an accepted one (and relayed there).
func TestRecipientCaseFoldsASCIIOnly(t *testing.T) {
	list, err := recipients.NewList([]string{"kelvin@example.test", "straße@example.test", "@relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	v := recipients.NewValidator([]recipients.DomainMode{
		{Pattern: "example.test", Mode: recipients.ModeDirectory},
		{Pattern: "relay.test", Mode: recipients.ModeDirectory},
	}, recipients.Chain{list}, undecided{})
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	s.SetRecipients(v)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	d.cmd("RCPT TO:<\u212Aelvin@example.test>", "550 5.1.1") // not kelvin's
	d.cmd("RCPT TO:<STRA\u1E9EE@example.test>", "550 5.1.1") // not straße's
	d.cmd("RCPT TO:<someone@\u212Aelvin.test>", "553 5.1.3") // not kelvin.test: IDNA 2008 disallows U+212A
	d.cmd("RCPT TO:<KELVIN@Example.TEST>", "250")            // ASCII case: the same mailbox
	d.cmd("RCPT TO:<STRAßE@example.test>", "250")
	d.cmd("RCPT TO:<Someone@RELAY.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: hi\r\n\r\nbody\r\n.", "250")
	d.cmd("QUIT", "221")
	if q.count() != 1 {
		t.Fatalf("submitted %d messages", q.count())
	}
	var got []string
	for _, r := range q.msgs[0].Rcpts {
		got = append(got, r.Addr)
	}
	// The local part exactly as given; the domain folded in ASCII only.
	want := []string{"KELVIN@example.test", "STRAßE@example.test", "Someone@relay.test"}
	if !slices.Equal(got, want) {
		t.Errorf("queued recipients %q, want %q", got, want)
	}
}

// refusingCallout is a callout whose next hop refused every address for a
// reason other than an unknown mailbox.
type refusingCallout struct{ r *recipients.Refusal }

func (f refusingCallout) Lookup(context.Context, string) (recipients.Verdict, error) {
	return recipients.CannotDecide, f.r
}

// rt39 F3: a callout's refusal that is not about the mailbox's existence
// (552 5.2.2 mailbox full, 550 5.7.1 policy) reaches the sender with the
// next hop's code, not as 550 5.1.1 user unknown. The next hop is the
// organisation's (a callout asks the hop for an accepted domain): its
// text, which can name its hosts or paths, is given as the status's
// reason, as a DSN to an outside sender gives it (dsn12).
func TestRecipientRefusalPassedOn(t *testing.T) {
	for _, rf := range []*recipients.Refusal{
		{Code: 552, Enhanced: [3]int{5, 2, 2}, Text: "mailbox full on hub-b.corp.test [10.0.0.2]"},
		{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "policy refusal (/etc/umbra/policy.yaml)"},
	} {
		v := recipients.NewValidator([]recipients.DomainMode{{Pattern: "relay.test", Mode: recipients.ModeCallout}},
			recipients.Chain{}, refusingCallout{rf})
		s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
		s.SetRecipients(v)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		st := fmt.Sprintf("%d.%d.%d", rf.Enhanced[0], rf.Enhanced[1], rf.Enhanced[2])
		want := fmt.Sprintf("%d %s Recipient address rejected by the next hop: %s", rf.Code, st, queue.StatusReason(st))
		if got := d.cmd("RCPT TO:<someone@relay.test>", want); strings.Contains(got, "hub-b") || strings.Contains(got, "/etc") {
			t.Errorf("the refusal names the next hop's inside: %q", got)
		}
		d.cmd("QUIT", "221")
	}
}

// rt25b F3: a callout that did not ask the next hop — its route's hop
// offers no SMTPUTF8, so the internationalised address gets the 553 5.6.7
// its delivery would get there — does not say the hop rejected it: the
// hop never saw the address (SMTP-6).
func TestRecipientRefusalNotAskedSaysSo(t *testing.T) {
	rf := &recipients.Refusal{Code: 553, Enhanced: [3]int{5, 6, 7}, Text: "hub-b.corp.test does not support SMTPUTF8", NotAsked: true}
	v := recipients.NewValidator([]recipients.DomainMode{{Pattern: "relay.test", Mode: recipients.ModeCallout}},
		recipients.Chain{}, refusingCallout{rf})
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	s.SetRecipients(v)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	got := d.cmd("RCPT TO:<émile@relay.test>", "553 5.6.7 Recipient address rejected: the recipient's address is not ASCII, and the next hop does not support SMTPUTF8")
	if strings.Contains(got, "hub-b") {
		t.Errorf("the refusal names the next hop's inside: %q", got)
	}
	d.cmd("QUIT", "221")
}
