package queue

import (
	"strings"
	"testing"
	"time"
)

// umbra's own diagnostics name what the sender outside the organisation
// must not learn: a server of the organisation, its address, this
// server's own address, a spool file or a socket path, a queue or
// connector name. A DSN to such a sender — failure, delay, success,
// relayed, and for the members of a group expanded here — describes them
// by the enhanced status code and its reason, in Diagnostic-Code and in
// the text part alike; a remote host's own reply is quoted as it came.
// A sender inside (an authoritative accepted domain) reads the whole
// text, as tracking and the logs keep it.
func TestDSNToOutsideDescribesOwnErrorsWithoutInternalNames(t *testing.T) {
	in := Inside{Domains: []string{"example.test"}, SenderDomains: []string{"example.test"}, Connectors: []string{"to-hub"}}
	secrets := []string{"hub-b", "10.0.0.2", "10.0.0.9", "/var/spool/umbra", "/run/dovecot", "to-hub", "site:b", "corp.example.com"}
	type rc struct {
		r      Recipient
		status string // the enhanced code the DSN keeps
	}
	cases := []struct {
		name  string
		kind  Notify
		rcpts []rc
	}{
		{"failure", NotifyFailure, []rc{
			{Recipient{Addr: "a@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25", Status: Failed,
				LastReply: "554 5.4.6 hub-b[10.0.0.2]:25: connection lost during DATA: read tcp 10.0.0.9:41234->10.0.0.2:25: i/o timeout"}, "5.4.6"},
			{Recipient{Addr: "b@example.test", Queue: "mailbox:db1", NextHop: "lmtp", Status: Failed,
				LastReply: "550 5.1.1 <b@example.test>: dial unix /run/dovecot/lmtp: connect: no such file or directory"}, "5.1.1"},
			{Recipient{Addr: "c@example.net", Queue: "mx:example.net", NextHop: "mx.example.net[192.0.2.7]:25", Status: Failed,
				LastReply: expiredReply("550 5.4.7", 48*time.Hour, "451 4.4.2 mx.example.net[192.0.2.7]:25: dial tcp 10.0.0.9:0->192.0.2.7:25: connect: connection refused")}, "5.4.7"},
			{Recipient{Addr: "d@example.net", Queue: "routing", NextHop: "routing", Status: Failed,
				LastReply: "552 5.3.4 message size 300000 exceeds the limit 200000 of send connector to-hub"}, "5.3.4"},
			{Recipient{Addr: "e@example.net", Queue: "mx:example.net", NextHop: "mx.example.net[192.0.2.7]:25", Status: Failed,
				LastReply: unreadablePrefix + ": open /var/spool/umbra/bodies/000661A3EABA2EA1: input/output error"}, ""},
		}},
		{"delay", NotifyDelay, []rc{
			{Recipient{Addr: "a@example.test", Queue: "smarthost:to-hub", NextHop: "hub1.corp.example.com[10.0.0.2]:25",
				LastReply: "451 4.4.1 hub1.corp.example.com[10.0.0.2]:25: dial tcp 10.0.0.2:25: connect: connection refused"}, "4.4.1"},
			{Recipient{Addr: "f@example.net", Queue: "site:b", LastReply: HeldReply("site:b")}, "4.3.2"},
		}},
		{"success", NotifySuccess, []rc{
			{Recipient{Addr: "a@example.test", Queue: "mailbox:db1", NextHop: "lmtp", Status: Delivered,
				LastReply: "250 2.0.0 <a@example.test> 8Hq3 Saved on mbx-1.corp.example.com"}, "2.0.0"},
		}},
		{"relayed", NotifySuccess, []rc{
			{Recipient{Addr: "a@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25", Status: Relayed,
				LastReply: "250 2.0.0 Ok: queued on hub-b.corp.example.com"}, "2.0.0"},
		}},
		{"expanded group's member", NotifyFailure, []rc{
			{Recipient{Addr: "m1@example.test", ORcpt: "rfc822;team@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25", Status: Failed,
				LastReply: "550 5.1.1 hub-b[10.0.0.2]:25 says: <m1@example.test> not in /var/spool/umbra/recipients.txt"}, "5.1.1"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 0x661A3EABA2EA1, From: "sender@ext.test", Arrived: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
			var idx []int
			for i, r := range c.rcpts {
				m.Rcpts = append(m.Rcpts, r.r)
				idx = append(idx, i)
			}
			dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte(body)), c.kind, idx, m.Arrived, m.Arrived.Add(time.Hour), 0xDEF, 0, in))
			for _, s := range secrets {
				if strings.Contains(dsn, s) {
					t.Errorf("the DSN to an outside sender names %q:\n%s", s, dsn)
				}
			}
			text := dsnTextPart(dsn)
			for _, r := range c.rcpts {
				if st := statusOf(r.r.LastReply, c.kind); !strings.Contains(dsn, "Status: "+st) {
					t.Errorf("%s: Status %s is gone:\n%s", r.r.Addr, st, dsn)
				}
				if r.status != "" && !strings.Contains(text, "<"+r.r.Addr+">: "+r.r.LastReply[:3]+" "+r.status+" ") &&
					!strings.Contains(text, "last reply: "+r.r.LastReply[:3]+" "+r.status+" ") {
					t.Errorf("%s: the text part gives no code, %s and reason:\n%s", r.r.Addr, r.status, dsn)
				}
				if strings.Contains(dsn, "Diagnostic-Code: X-Umbra") {
					t.Errorf("%s: umbra's own words in a Diagnostic-Code:\n%s", r.r.Addr, dsn)
				}
				line := "<" + r.r.Addr + ">: "
				if i := strings.Index(text, line); i < 0 || len(strings.TrimSpace(strings.SplitN(text[i+len(line):], "\r\n", 2)[0])) < 12 {
					t.Errorf("%s: the text part gives no reason:\n%s", r.r.Addr, text)
				}
			}
			// The remote host's own words stay: the expired recipient's host
			// is outside, and so is its name.
			if c.kind == NotifyFailure && c.name == "failure" && !strings.Contains(dsn, "mx.example.net") {
				t.Errorf("the outside host's name is gone too:\n%s", dsn)
			}
			// A sender inside reads the whole text.
			m.From = "sender@example.test"
			dsn = string(BuildDSNBody("mx.test", m, MemBody([]byte(body)), c.kind, idx, m.Arrived, m.Arrived.Add(time.Hour), 0xDEF, 0, in))
			for _, r := range c.rcpts {
				if !strings.Contains(dsnTextPart(dsn), oneLine(r.r.LastReply)) {
					t.Errorf("to a sender inside, %s's reply is not whole:\n%s", r.r.Addr, dsn)
				}
			}
		})
	}
}

// A remote host outside the organisation answered: its own reply is
// quoted whole (Diagnostic-Code smtp), whoever the sender is.
func TestDSNToOutsideQuotesRemoteReplies(t *testing.T) {
	m := &Message{ID: 7, From: "sender@ext.test", Arrived: time.Unix(1e9, 0),
		Rcpts: []Recipient{{Addr: "x@example.net", Queue: "mx:example.net", NextHop: "mx.example.net[192.0.2.7]:25", Status: Failed,
			LastReply: "550 5.1.1 <x@example.net>: Recipient address rejected: User unknown in virtual mailbox table"}}}
	dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte(body)), NotifyFailure, []int{0}, time.Unix(1e9, 0), time.Unix(1e9, 0), 8, 0, Inside{}))
	if !strings.Contains(dsn, "Diagnostic-Code: smtp; "+m.Rcpts[0].LastReply) || !strings.Contains(dsn, "Remote-MTA: dns; mx.example.net") {
		t.Errorf("the remote host's reply is not quoted whole:\n%s", dsn)
	}
}

// The refusal a waiting sender gets instead of a DSN (SMTP-7) quotes the
// recipients' replies to the client as a DSN quotes them to the sender:
// umbra's own diagnostic and a hub's reply are described, not quoted, to
// a sender outside; a remote host's own reply is quoted.
func TestRefusalDescribesOwnErrorsToOutside(t *testing.T) {
	hub := Recipient{Addr: "a@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25", Status: Failed,
		LastReply: "554 5.4.6 hub-b[10.0.0.2]:25: mail loop at /var/spool/umbra"}
	remote := Recipient{Addr: "x@example.net", Queue: "mx:example.net", NextHop: "mx.example.net[192.0.2.7]:25", Status: Failed,
		LastReply: "550 5.1.1 <x@example.net>: User unknown in virtual mailbox table"}
	for _, c := range []struct {
		name, from string
		r          Recipient
		want       string
	}{
		{"hub's reply to outside", "victim@ext.test", hub, "routing loop detected"},
		{"remote reply to outside", "victim@ext.test", remote, "User unknown in virtual mailbox table"},
		{"hub's reply to inside", "s@example.test", hub, "hub-b[10.0.0.2]:25: mail loop at /var/spool/umbra"},
	} {
		m := &Message{ID: 7, From: c.from, Rcpts: []Recipient{c.r}}
		r := refusalOf(m, Inside{SenderDomains: []string{"example.test"}})
		if r == nil || r.Code != 550 && r.Code != 554 || !strings.Contains(r.Text, c.want) {
			t.Errorf("%s: refusal %+v, want %q", c.name, r, c.want)
		}
		if c.from == "victim@ext.test" && r != nil && (strings.Contains(r.Text, "hub-b") || strings.Contains(r.Text, "10.0.0.2")) {
			t.Errorf("%s: refusal names the hub: %+v", c.name, r)
		}
	}
}

// Where the organisation ends is known by domain in either spelling of
// an internationalised name: a hub answering for bücher.example is
// inside when xn--bcher-kva.example is configured, and a sender of it is
// inside too.
func TestInsideMatchesUAndALabels(t *testing.T) {
	in := Inside{Domains: []string{"xn--bcher-kva.example"}, SenderDomains: []string{"straße.example"}}
	if !in.Hop(Recipient{Addr: "anna@bücher.example"}) || !in.Hop(Recipient{Addr: "anna@BÜCHER.example."}) {
		t.Error("a U-label recipient domain is not inside")
	}
	if !in.Sender("s@xn--strae-oqa.example") || !in.Sender("s@straße.example") {
		t.Error("the A-label of a U-label sender domain is not inside")
	}
}
