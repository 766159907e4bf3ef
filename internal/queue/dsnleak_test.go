package queue

import (
	"strings"
	"testing"
	"time"
)

// dsnText is the human-readable part of a DSN: what comes before its
// delivery-status part.
func dsnTextPart(dsn string) string {
	if i := strings.Index(dsn, "Content-Description: Delivery report"); i >= 0 {
		return dsn[:i]
	}
	return dsn
}

// A DSN goes to the original's sender, often outside the organisation:
// none — failure, delay or success, from the manager's results or the
// operator's removal, body in memory or spooled — carries an X-Umbra-
// field or the organisation message id, not even where a reply it quotes
// named the id (rt44 L1). Its Received field still gives the operator
// this server's queue id.
func TestDSNShowsNoOrganisationID(t *testing.T) {
	const org = "4b08499ccd437f47ade014ca888151b0"
	s := openTest(t)
	content := []byte("Received: from c ([192.0.2.1])\r\n\tby mx.test (umbra) with ESMTP id 000661A3EABA2EA1\r\n" +
		"From: a@example.org\r\nSubject: s\r\n\r\nhello\r\n")
	bodies := map[string]Body{"memory": MemBody(content), "spooled": spooled(t, s, content)}
	for _, kind := range []Notify{NotifyFailure, NotifyDelay, NotifySuccess} {
		for name, b := range bodies {
			m := &Message{ID: 0x661A3EABA2EA1, From: "victim@ext.test", OrgID: org, RetFull: true, EnvID: "abc",
				Arrived: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC),
				Rcpts: []Recipient{
					{Addr: "alice@example.test", Queue: "site:b", NextHop: "hub-b[10.0.0.2]:25", Status: Delivered,
						LastReply: "550 5.7.1 \u0130\u0130 org id " + org + " refused"}, // İ: ToLower would change its length
					{Addr: "bob@example.net", Queue: "mx:example.net", NextHop: "mx.example.net[192.0.2.7]:25", Status: Failed,
						LastReply: expiredReply("550 5.4.7", 48*time.Hour, "451 4.3.0 copy "+strings.ToUpper(org)+" busy")},
				}}
			dsn := string(BuildDSNBody("mx.test", m, b, kind, []int{0, 1}, m.Arrived, m.Arrived.Add(time.Hour), 0xDEF, 50<<10, Inside{}))
			if strings.Contains(strings.ToLower(dsn), org) {
				t.Errorf("%s DSN, body in %s: shows the organisation id:\n%s", dsnKindName(kind), name, dsn)
			}
			if strings.Contains(strings.ToLower(dsn), "x-umbra-") {
				t.Errorf("%s DSN, body in %s: carries an X-Umbra- field:\n%s", dsnKindName(kind), name, dsn)
			}
			if !strings.Contains(dsn, "with ESMTP id 000661A3EABA2EA1") {
				t.Errorf("%s DSN, body in %s: the returned Received field is gone:\n%s", dsnKindName(kind), name, dsn)
			}
		}
	}
}

// RET=FULL asks for the whole message in a report of failure only (RFC
// 3461 §4.3); a success or delay report returns its headers. The report
// says so in its text, as a failure DSN does for a message over
// bounce_size_limit (rt44's note), and so does a failure DSN of a
// REQUIRETLS message, which returns its headers whatever RET says (RFC
// 8689 §5). A body in memory and a spooled one say the same.
func TestDSNSaysWhyRetFullGotHeaders(t *testing.T) {
	s := openTest(t)
	small := []byte("From: a@example.org\r\nSubject: s\r\n\r\nhello\r\n")
	big := bigContent(300 << 10)
	for _, tc := range []struct {
		name       string
		kind       Notify
		content    []byte
		requireTLS bool
		want       string
	}{
		{"success", NotifySuccess, small, false, "RET=FULL"},
		{"success over the limit", NotifySuccess, big, false, "RET=FULL"},
		{"delay", NotifyDelay, small, false, "RET=FULL"},
		{"delay over the limit", NotifyDelay, big, false, "RET=FULL"},
		{"failure over the limit", NotifyFailure, big, false, "larger than 51200 bytes"},
		{"failure of a REQUIRETLS message", NotifyFailure, small, true, "REQUIRETLS"},
	} {
		for _, spool := range []bool{false, true} {
			b := MemBody(tc.content)
			if spool {
				b = spooled(t, s, tc.content)
			}
			m := &Message{ID: 0xABC, From: "s@example.org", RetFull: true, RequireTLS: tc.requireTLS,
				Arrived: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
				Rcpts:   []Recipient{{Addr: "x@example.net", LastReply: "550 5.1.1 no such user"}}}
			dsn := string(BuildDSNBody("mx.test", m, b, tc.kind, []int{0}, m.Arrived, m.Arrived.Add(time.Hour), 0xDEF, 50<<10, Inside{}))
			if !strings.Contains(dsn, "Content-Type: text/rfc822-headers\r\n") {
				t.Errorf("%s (spooled %v): not headers only:\n%.2000s", tc.name, spool, dsn)
			}
			text := dsnTextPart(dsn)
			if !strings.Contains(text, tc.want) || !strings.Contains(text, "only its headers are returned") {
				t.Errorf("%s (spooled %v): the text part gives no reason (%q) for the headers only:\n%s", tc.name, spool, tc.want, text)
			}
		}
	}
	// Without RET=FULL nothing needs explaining.
	m := &Message{ID: 0xABC, From: "s@example.org", Arrived: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "250 2.0.0 ok"}}}
	if text := dsnTextPart(string(BuildDSNBody("mx.test", m, MemBody(big), NotifySuccess, []int{0}, m.Arrived, m.Arrived, 1, 50<<10, Inside{}))); strings.Contains(text, "returned") {
		t.Errorf("a success DSN without RET=FULL explains a choice nobody made:\n%s", text)
	}
}

// Remote-MTA names only hosts outside the organisation (README). Without
// a topology a server still knows part of where the organisation ends:
// the hosts that take mail for its own accepted domains (authoritative
// and internal_relay) are the organisation's — an edge's smart host for
// them is a hub — and so are a send connector's smart hosts that speak
// shadow redundancy with it (send_xshadow) and an operator's redirect
// target (rt44 L2). Their replies are still quoted as smtp.
func TestDSNNamesNoHostOfTheOrganisation(t *testing.T) {
	in := Inside{Domains: []string{"example.test", "*.corp.test"}, Connectors: []string{"to-hub"}}
	const hub, mx = "hub1.corp.example.com[127.0.0.61]:25", "mx.example.net[192.0.2.7]:25"
	for _, c := range []struct {
		name, addr, queue, hop, remoteMTA string
	}{
		{"edge's smart host for an internal_relay domain", "alice@example.test", "smarthost:to-hub", hub, ""},
		{"accepted domain, domain case and trailing dot", "alice@Example.TEST.", "smarthost:any", hub, ""},
		{"accepted domain's MX", "alice@example.test", "mx:example.test", hub, ""},
		{"a subdomain under a wildcard", "x@a.corp.test", "smarthost:other", hub, ""},
		{"the wildcard's own domain is not under it", "x@corp.test", "smarthost:other", mx, "mx.example.net"},
		{"a send_xshadow connector's smart host", "x@example.net", "smarthost:to-hub", hub, ""},
		{"an operator's redirect", "x@example.net", "redirect:hub2.corp.example.com:25", hub, ""},
		{"outside", "x@example.net", "mx:example.net", mx, "mx.example.net"},
		{"outside through another connector", "x@example.net", "smarthost:out", mx, "mx.example.net"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 7, From: "sender@ext.test", Arrived: time.Unix(1e9, 0),
				Rcpts: []Recipient{{Addr: c.addr, Queue: c.queue, NextHop: c.hop, Status: Failed,
					LastReply: "554 5.4.6 Too many hops (Received: headers): mail loop"}}}
			dsn := string(BuildDSNBody("edge.test", m, MemBody([]byte(body)), NotifyFailure, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0, in))
			got := ""
			for _, line := range strings.Split(dsn, "\r\n") {
				if v, ok := strings.CutPrefix(line, "Remote-MTA: "); ok {
					got = v
				}
			}
			if want := "dns; " + c.remoteMTA; c.remoteMTA == "" && got != "" || c.remoteMTA != "" && got != want {
				t.Errorf("Remote-MTA %q, want %q:\n%s", got, c.remoteMTA, dsn)
			}
			if !strings.Contains(dsn, "Diagnostic-Code: smtp; 554 5.4.6") {
				t.Errorf("the host's own reply is not quoted as smtp:\n%s", dsn)
			}
		})
	}
}

// The refusal a waiting sender gets instead of a DSN (SMTP-7) quotes the
// recipients' replies too: it shows the organisation id no more than a
// DSN does.
func TestRefusalShowsNoOrganisationID(t *testing.T) {
	const org = "4b08499ccd437f47ade014ca888151b0"
	for _, n := range []int{1, 2} {
		m := &Message{ID: 7, From: "victim@ext.test", OrgID: org}
		for range n {
			m.Rcpts = append(m.Rcpts, Recipient{Addr: "a@example.test", Status: Failed, LastReply: "550 5.7.1 copy " + org + " refused"})
		}
		r := refusalOf(m, Inside{})
		if r == nil || r.Code != 550 || strings.Contains(strings.ToLower(r.Text), org) {
			t.Errorf("%d recipients: refusal %+v", n, r)
		}
	}
}
