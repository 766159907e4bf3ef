package smtp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/recipients"
)

// EDGE: a recipient a check (a milter) adds gets what RCPT would give
// the client: no relay without the right, no unknown directory address,
// no more than max_recipients; one that cannot be validated now
// tempfails the message.
func TestAddedRecipientsChecked(t *testing.T) {
	list, err := recipients.NewList([]string{"alice@example.test", "bob@example.test", "carol@example.test",
		"dave@example.test", "erin@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	v := recipients.NewValidator([]recipients.DomainMode{
		{Pattern: "example.test", Mode: recipients.ModeDirectory},
		{Pattern: "relay.test", Mode: recipients.ModeCallout},
	}, recipients.Chain{list}, undecided{})
	send := func(t *testing.T, add []string) (*fakeQueue, string) {
		s, q := addingServer(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_recipients: 3}
`, add)
		s.SetRecipients(v)
		return q, sendAdded(t, s, "<a@sender.test>", "alice@example.test")
	}
	t.Run("no relay through a check", func(t *testing.T) {
		q, reply := send(t, []string{"victim@outside.test", "bob@example.test"})
		if reply[:3] != "250" {
			t.Fatalf("reply %q", reply)
		}
		if got := fmt.Sprint(queuedRcpts(t, q)); got != "[alice@example.test bob@example.test]" {
			t.Fatalf("queued for %s", got)
		}
	})
	t.Run("unknown directory recipient dropped", func(t *testing.T) {
		q, _ := send(t, []string{"nobody@example.test"})
		if got := fmt.Sprint(queuedRcpts(t, q)); got != "[alice@example.test]" {
			t.Fatalf("queued for %s", got)
		}
	})
	t.Run("max_recipients", func(t *testing.T) {
		q, _ := send(t, []string{"bob@example.test", "carol@example.test", "dave@example.test", "erin@example.test"})
		if got := fmt.Sprint(queuedRcpts(t, q)); got != "[alice@example.test bob@example.test carol@example.test]" {
			t.Fatalf("queued for %s", got)
		}
	})
	t.Run("undecided tempfails", func(t *testing.T) {
		q, reply := send(t, []string{"someone@relay.test"})
		if reply[:9] != "451 4.3.0" || q.count() != 0 {
			t.Fatalf("reply %q, queued %d", reply, q.count())
		}
	})
}

// EDGE: a recipient a check adds in the other form of an
// internationalised domain (U-label for the client's A-label, or the
// reverse, in any case) is the recipient already there, and two
// additions naming one recipient in both forms are one: the next hop or
// LMTP must never get the same recipient twice (mailaddr.AddrKey, as
// RCPT's own duplicate test).
func TestAddedRecipientsIDNFormsAreOne(t *testing.T) {
	send := func(t *testing.T, rcpt string, add []string) []string {
		s, q := addingServer(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`, add)
		if reply := sendAdded(t, s, "<a@sender.test> SMTPUTF8", rcpt); reply[:3] != "250" {
			t.Fatalf("reply %q", reply)
		}
		return queuedRcpts(t, q)
	}
	t.Run("addition in the other form of a recipient there", func(t *testing.T) {
		got := send(t, "anna@xn--bcher-kva.example", []string{"anna@bücher.example", "anna@BÜCHER.example"})
		if fmt.Sprint(got) != "[anna@xn--bcher-kva.example]" {
			t.Fatalf("queued for %q", got)
		}
	})
	t.Run("two additions in both forms", func(t *testing.T) {
		got := send(t, "bob@example.test", []string{"anna@bücher.example", "anna@XN--BCHER-KVA.example"})
		if fmt.Sprint(got) != "[bob@example.test anna@bücher.example]" {
			t.Fatalf("queued for %q", got)
		}
	})
}

// A recipient a check adds at an address literal or at IP-address text
// gets RCPT's 550 5.1.2 (it is dropped), where the connector grants
// relay too: a check never gives a recipient more than the client could
// have asked for itself (rt60 M1's sibling).
func TestAddedRecipientsNotAddresses(t *testing.T) {
	add := []string{"u@192.0.2.1", "u@[192.0.2.1]", "u@127.1", "u@::1", "u@[not-an-ip", "v@elsewhere.test"}
	s, q := addingServer(t, `
  - name: relay
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    permissions: {anonymous: [submit, relay]}
`, add)
	if reply := sendAdded(t, s, "<a@sender.test>", "u@elsewhere.test"); reply[:3] != "250" {
		t.Fatalf("reply %q", reply)
	}
	got := queuedRcpts(t, q)
	if fmt.Sprint(got) != "[u@elsewhere.test v@elsewhere.test]" {
		t.Fatalf("queued for %v", got)
	}
}

// addingServer starts a server with the receive connectors conns (their
// YAML) whose one check adds add to each message's recipients.
func addingServer(t *testing.T, conns string, add []string) (*Server, *fakeQueue) {
	t.Helper()
	ck := &scripted{edit: func(tr *Transaction) { tr.Rcpts = append(tr.Rcpts, add...) }}
	q := &fakeQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, conns), Routing: testTable(), Queue: q,
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{ck}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, q
}

// sendAdded sends one message to s, MAIL FROM:from (parameters
// included) and RCPT TO:<rcpt>, and returns the reply to its end.
func sendAdded(t *testing.T, s *Server, from, rcpt string) string {
	t.Helper()
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:"+from, "250")
	d.cmd("RCPT TO:<"+rcpt+">", "250")
	d.cmd("DATA", "354")
	return d.cmd("Subject: x\r\n\r\nhello\r\n.", "")
}

// queuedRcpts returns the recipients of the one message queued in q.
func queuedRcpts(t *testing.T, q *fakeQueue) []string {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) != 1 {
		t.Fatalf("queued %d messages", len(q.msgs))
	}
	var out []string
	for _, r := range q.msgs[0].Rcpts {
		out = append(out, r.Addr)
	}
	return out
}
