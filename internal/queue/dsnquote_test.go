package queue

import (
	"context"
	"strings"
	"testing"
	"time"
)

// SPEC Q-3 (RFC 3464 §2.3.4, §2.3.6): a DSN gives a recipient's Status
// and its Diagnostic-Code as the host gave them. A success's status is
// the host's own 2.x.y (an LMTP server's "250 2.1.5", a relay's "251
// 2.1.5"), not 2.0.0; a reply a DSN to a sender outside describes (a
// server of the organisation answered, or umbra's own words) keeps the
// host's reply code and enhanced status code, whatever their classes,
// and only its text is replaced by the status's reason: no 250, 451 or
// 550 the host never sent. (A hub's reply is quoted: its own words, which
// never name the hop umbra reached it at — umbra's words about a host
// do, and a DSN gives those no Diagnostic-Code.)
func TestDSNKeepsTheHostsCodeAndStatus(t *testing.T) {
	in := Inside{Domains: []string{"example.test"}, SenderDomains: []string{"example.test"}}
	at := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name       string
		kind       Notify
		r          Recipient
		status     string // the Status field
		diagnostic string // the Diagnostic-Code to a sender outside
	}{
		{"LMTP success", NotifySuccess,
			Recipient{Addr: "a@example.test", Queue: "mailbox:db1", NextHop: "lmtp", Status: Delivered,
				LastReply: "250 2.1.5 <a@example.test> Saved on mbx-1.corp.example.com"},
			"2.1.5", "250 2.1.5 completed"},
		{"relayed with 251 outside", NotifySuccess,
			Recipient{Addr: "x@example.net", Queue: "mx:example.net", NextHop: "mx.example.net[192.0.2.1]:25", Status: Relayed,
				LastReply: "251 2.1.5 User not local; will forward"},
			"2.1.5", "smtp; 251 2.1.5 User not local; will forward"},
		{"relayed with 251 inside", NotifySuccess,
			Recipient{Addr: "b@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25", Status: Relayed,
				LastReply: "251 2.1.5 hub-b will forward"},
			"2.1.5", "251 2.1.5 completed"},
		{"delay: a 5xx with a 4.x.y from a hub", NotifyDelay,
			Recipient{Addr: "c@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25",
				LastReply: "550 4.7.1 greylisted by hub-b, try later"},
			"4.0.0", "550 4.7.1 delivery not authorized, message refused"},
		{"delay: a 4xx with a 5.x.y from a hub", NotifyDelay,
			Recipient{Addr: "d@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25",
				LastReply: "452 5.2.2 mailbox full on hub-b"},
			"4.0.0", "452 5.2.2 the recipient's mailbox is full"},
		{"delay: a 5xx without a status", NotifyDelay,
			Recipient{Addr: "e@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25",
				LastReply: "554 hub-b: go away"},
			"4.0.0", "554 5.0.0 delivery failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 0x661A3EABA2EA1, From: "sender@ext.test", Arrived: at, Rcpts: []Recipient{c.r}}
			dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte(body)), c.kind, []int{0}, at, at.Add(time.Hour), 0xDEF, 0, in))
			if !strings.Contains(dsn, "Status: "+c.status+"\r\n") {
				t.Errorf("want Status: %s:\n%s", c.status, dsn)
			}
			if !strings.Contains(dsn, "Diagnostic-Code: ") || !strings.Contains(dsn, "; "+strings.TrimPrefix(c.diagnostic, "smtp; ")+"\r\n") ||
				strings.HasPrefix(c.diagnostic, "smtp; ") && !strings.Contains(dsn, "Diagnostic-Code: "+c.diagnostic+"\r\n") {
				t.Errorf("want Diagnostic-Code …; %s:\n%s", c.diagnostic, dsn)
			}
			// A sender inside reads the reply whole, with the same Status.
			m.From = "sender@example.test"
			dsn = string(BuildDSNBody("mx.test", m, MemBody([]byte(body)), c.kind, []int{0}, at, at.Add(time.Hour), 0xDEF, 0, in))
			if !strings.Contains(dsn, "Status: "+c.status+"\r\n") || !strings.Contains(dsn, "; "+c.r.LastReply+"\r\n") {
				t.Errorf("to a sender inside: want Status: %s and the reply whole:\n%s", c.status, dsn)
			}
		})
	}
}

// SMTP-7: the refusal a waiting sender gets instead of a DSN is a reply
// umbra gives: its enhanced code is of its reply code's class, though
// the described reply it comes from keeps a hub's "550 4.7.1"
// (splitReply takes an enhanced code of the reply's class only).
func TestRefusalOfMismatchedClassesAgrees(t *testing.T) {
	in := Inside{Domains: []string{"example.test"}, SenderDomains: []string{"example.test"}}
	m := &Message{ID: 9, From: "sender@ext.test", Rcpts: []Recipient{{Addr: "c@example.test", Queue: "site:b",
		NextHop: "hub-b[10.0.0.2]:25", Status: Failed, LastReply: "550 4.7.1 hub-b[10.0.0.2]:25 says: not now"}}}
	r := refusalOf(m, in)
	if r.Code != 550 || r.Enhanced != [3]int{5, 0, 0} {
		t.Fatalf("refusal %d %v %q; want 550 5.0.0", r.Code, r.Enhanced, r.Text)
	}
}

// SPEC Q-3 (RFC 3461 §6.2): a recipient with NOTIFY=SUCCESS relayed to
// a next hop that answered "251 2.1.5 User not local; will forward" and
// took no DSN parameters gets its success DSN ("relayed") from this
// server, its Status the host's 2.1.5 and its reply quoted as it came.
func TestSuccessDSNForA251Relay(t *testing.T) {
	s := openTest(t)
	const reply = "251 2.1.5 User not local; will forward"
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if m.Connector == "dsn" {
			return nil // the DSN waits
		}
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: reply, NextHop: "mx.example.net[192.0.2.1]:25", Queue: "mx:example.net"})
		}
		return out
	}), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "s@example.org", "r@example.net")
	m.Rcpts[0].Notify = NotifySuccess
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var dsn *Message
	waitFor(t, "the success DSN", func() bool {
		for _, x := range messages(t, s) {
			if x.Connector == "dsn" {
				dsn = x
			}
		}
		return dsn != nil
	})
	var b []byte
	if err := s.View(func(tx *Tx) error { var err error; bd, err := tx.BodyOf(dsn.ID); b, _ = bd.Bytes(); return err }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Action: relayed\r\n", "Status: 2.1.5\r\n", "Diagnostic-Code: smtp; " + reply + "\r\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the success DSN lacks %q:\n%s", want, b)
		}
	}
}
