package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// SPEC Q-3, SMTP-7 (RFC 3464 §2.3.5/§2.3.6): Remote-MTA names the MTA
// that reported the status — none when umbra decided it alone (null MX,
// a domain or MX host without address, a route, a TLS policy before any
// session, a host that did not answer, the operator) — and a
// Diagnostic-Code quotes only a remote server's own reply (type smtp):
// umbra's own reasons (a hold, an expiry, a removal, a quarantine, a
// broken connection) are said by the Status and the text part, never
// put in a Diagnostic-Code (sched31 D3: "Diagnostic-Code: X-Umbra; 452
// 4.3.2 queue … suspended" read as a server's reply). An expiry quotes
// the remote reply it last had, if any.
func TestDSNRemoteMTAOnlyForAReportingHost(t *testing.T) {
	const mx = "mx.example.net[192.0.2.7]:25"
	for _, c := range []struct {
		name, queue, hop, reply string
		kind                    Notify
		remoteMTA               string // "" for none
		diag                    string // the Diagnostic-Code's type and start, "" for none
	}{
		{"remote refusal", "mx:example.net", mx, "550 5.1.1 no such user", NotifyFailure, "mx.example.net", "smtp"},
		{"remote tempfail", "mx:example.net", mx, "451 4.3.0 try later", NotifyDelay, "mx.example.net", "smtp"},
		// rt17d F3: a smart host given by its address is named as an RFC 5321 address literal.
		{"smart host by IPv6 address", "smarthost:out", "2001:db8::7[2001:db8::7]:2525", "550 5.1.1 no such user", NotifyFailure, "[IPv6:2001:db8::7]", "smtp"},
		{"smart host by IPv4 address", "smarthost:out", "192.0.2.7[192.0.2.7]:2525", "550 5.1.1 no such user", NotifyFailure, "[192.0.2.7]", "smtp"},
		{"null MX", "mx:example.net", "example.net", "556 5.1.10 domain example.net accepts no mail (null MX)", NotifyFailure, "", ""},
		{"MX host without address", "mx:example.net", "example.net", "550 5.4.4 MX host nohost.example.net of example.net has no address", NotifyFailure, "", ""},
		{"no route", "routing", "routing", "550 5.4.4 no route to example.net", NotifyFailure, "", ""},
		{"unreachable", "unreachable", "unreachable", "451 4.4.4 no route", NotifyDelay, "", ""},
		{"connector", "smarthost:out", "out", "550 5.7.1 refused by connector out", NotifyFailure, "", ""},
		{"host did not answer", "mx:example.net", mx, "451 4.4.2 " + mx + ": dial tcp 192.0.2.7:25: connection refused", NotifyDelay, "", ""},
		{"TLS policy before any session", "mx:example.net", mx,
			"550 5.7.10 REQUIRETLS: no verified TLS to " + mx + " (no DANE or MTA-STS policy, connector out is opportunistic)", NotifyFailure, "", ""},
		{"EHLO answer lacks 8BITMIME", "mx:example.net", mx, "550 5.6.3 " + mx + " does not support 8BITMIME, and the message has 8-bit content", NotifyFailure, "mx.example.net", ""},
		{"EHLO answer lacks REQUIRETLS", "mx:example.net", mx, "550 5.7.10 REQUIRETLS: " + mx + " does not support REQUIRETLS", NotifyFailure, "mx.example.net", ""},
		{"expired after a remote reply", "mx:example.net", mx, expiredReply("550 5.4.7", 5*24*time.Hour, "451 4.3.0 try later"), NotifyFailure, "mx.example.net", "smtp; 451 4.3.0 try later"},
		{"expired after an LMTP server's reply", "mailbox:DB01", "lmtp", expiredReply("550 5.4.7", 5*24*time.Hour, "452 4.2.2 mailbox full"), NotifyFailure, "", "smtp; 452 4.2.2 "},
		{"expired while held", "mx:example.net", mx, expiredReply("550 5.4.7", 5*24*time.Hour, HeldReply("mx:example.net")), NotifyFailure, "", ""},
		{"held in a suspended queue", "mx:example.net", mx, HeldReply("mx:example.net"), NotifyDelay, "", ""},
		{"waiting for a delivery slot", "mx:example.net", mx, throttleReply, NotifyDelay, "", ""},
		{"stopped by the shutdown", "mx:example.net", mx, stopReply, NotifyDelay, "", ""},
		{"quarantine deleted", "mx:example.net", "", "550 5.7.1 message held in quarantine and deleted by the administrator of mx.test", NotifyFailure, "", ""},
		{"quarantine expired", "mx:example.net", "", "550 5.7.1 the message was held at mx.test and not released for delivery within the time allowed", NotifyFailure, "", ""},
		{"expired after no answer", "mx:example.net", mx, expiredReply("550 5.4.7", 5*24*time.Hour, "451 4.4.2 "+mx+": i/o timeout"), NotifyFailure, "", ""},
		{"connection lost during DATA", "mx:example.net", mx, "451 4.4.2 " + mx + ": connection lost during DATA: EOF", NotifyDelay, "", ""},
		{"content unreadable here", "mx:example.net", mx, UnreadableReply(errors.New("spool file gone")), NotifyDelay, "", ""},
		{"next hop is this server", "mx:example.net", mx, "451 4.4.6 routing loop: next hop " + mx + " is this server itself (it presents this server's transport database id)", NotifyDelay, "", ""},
		{"no result from delivery", "mx:example.net", "", "451 4.3.0 no result from delivery", NotifyDelay, "", ""},
		{"taken over from a primary", "shadow:primary", "", "451 4.4.0 taken over from primary: heartbeats failed", NotifyDelay, "", ""},
		{"removed by the operator", "mx:example.net", "", "550 5.3.0 message removed by the administrator of mx.test", NotifyFailure, "", ""},
		{"internal hop's reply", "site:b", "hub-b[10.0.0.2:25]", "550 5.1.1 no such mailbox", NotifyFailure, "", "smtp"},
		{"LMTP server's reply", "mailbox:DB01", "lmtp", "550 5.1.1 <x@example.net> unknown user", NotifyFailure, "", "smtp"},
		{"LMTP server unreachable", "mailbox:DB01", "lmtp", "451 4.4.1 LMTP server unreachable: dial unix /run/lmtp: connect: no such file", NotifyDelay, "", ""},
		{"LMTP content unreadable here", "mailbox:DB01", "lmtp", UnreadableReply(errors.New("spool file gone")), NotifyDelay, "", ""},
		{"maildir", "mailbox:DB01", "maildir", "550 5.1.1 <x@example.net>: no such mailbox", NotifyFailure, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 7, From: "sender@example.org", Arrived: time.Unix(1e9, 0),
				Rcpts: []Recipient{{Addr: "x@example.net", Queue: c.queue, NextHop: c.hop, LastReply: c.reply, Status: Failed}}}
			dsn := string(BuildDSN("mx.test", m, []byte("Subject: s\r\n\r\nbody\r\n"), c.kind, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
			got := ""
			for _, line := range strings.Split(dsn, "\r\n") {
				if v, ok := strings.CutPrefix(line, "Remote-MTA: "); ok {
					got = v
				}
			}
			if want := "dns; " + c.remoteMTA; c.remoteMTA == "" && got != "" || c.remoteMTA != "" && got != want {
				t.Errorf("Remote-MTA %q, want %q:\n%s", got, c.remoteMTA, dsn)
			}
			if c.diag == "" && strings.Contains(dsn, "Diagnostic-Code:") {
				t.Errorf("umbra's own words in a Diagnostic-Code:\n%s", dsn)
			}
			if want := "Diagnostic-Code: " + c.diag; c.diag != "" && !strings.Contains(dsn, want) {
				t.Errorf("want %q:\n%s", want, dsn)
			}
		})
	}
}

// A recipient taken over from a failed primary carries umbra's own
// diagnostic: the host its shadow copy went to is no longer quoted.
func TestTakenOverRecipientNamesNoReporter(t *testing.T) {
	r := Recipient{Addr: "x@example.net", Status: Shadowed, Primary: "primary", Queue: "mx:example.net",
		NextHop: "primary[10.0.0.9]:25", LastReply: "250 2.0.0 Ok: queued as 1"}
	takeoverRcpt(&r, "heartbeats failed")
	m := &Message{ID: 7, From: "sender@example.org", Arrived: time.Unix(1e9, 0), Rcpts: []Recipient{r}}
	dsn := string(BuildDSN("mx.test", m, []byte("Subject: s\r\n\r\nbody\r\n"), NotifyDelay, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
	// To a sender outside, umbra's words are described: they name the
	// primary (dsnown.go).
	if strings.Contains(dsn, "Remote-MTA") || strings.Contains(dsn, "Diagnostic-Code:") || !strings.Contains(dsn, "<x@example.net>: 451 4.4.0 ") ||
		strings.Contains(dsn, "primary") {
		t.Errorf("a takeover's DSN quotes a remote MTA:\n%s", dsn)
	}
}

// A host that answered the session's opening with a refusal — at its
// greeting, to EHLO, to the login — reported the status in its own
// words: delivery's deferral names the step and the host ("451 4.4.2
// greeting from HOST: 421 …"), and the DSN quotes the host's reply
// (Diagnostic-Code smtp, its status) with the host as Remote-MTA, not
// "connection with the next hop broken"; at expiry too, as umbra's
// last reply. An opening that broke without a reply stays umbra's: no
// Diagnostic-Code (SPEC Q-3).
func TestDSNQuotesTheHostsOpeningReply(t *testing.T) {
	const mx = "mx.example.net[192.0.2.7]:25"
	for _, c := range []struct {
		name, reply string
		kind        Notify
		want        []string
		remoteMTA   bool
	}{
		{"greeting 421", "451 4.4.2 greeting from " + mx + ": 421 4.3.2 too busy", NotifyDelay,
			[]string{"Status: 4.3.2", "Diagnostic-Code: smtp; 421 4.3.2 too busy", "<x@example.net>: 421 4.3.2 too busy"}, true},
		{"EHLO 450", "451 4.4.2 reply to EHLO from " + mx + ": 450 4.7.1 come back later", NotifyDelay,
			[]string{"Status: 4.7.1", "Diagnostic-Code: smtp; 450 4.7.1 come back later"}, true},
		{"login 535", "451 4.7.0 authentication to " + mx + " failed: 535 5.7.8 bad credentials", NotifyDelay,
			[]string{"Status: 4.7.0", "Diagnostic-Code: smtp; 535 5.7.8 bad credentials"}, true},
		{"expired after a greeting 421", expiredReply("550 5.4.7", 5*24*time.Hour, "451 4.4.2 greeting from "+mx+": 421 4.3.2 too busy"), NotifyFailure,
			[]string{"Status: 5.4.7", "last reply: 421 4.3.2 too busy", "Diagnostic-Code: smtp; 421 4.3.2 too busy\r\n"}, true},
		{"STARTTLS 454 under required TLS", "451 4.7.5 " + mx + ": STARTTLS refused: 454 4.7.0 TLS not available", NotifyDelay,
			[]string{"Status: 4.7.0", "Diagnostic-Code: smtp; 454 4.7.0 TLS not available"}, true},
		{"STARTTLS refused under an MTA-STS policy for REQUIRETLS", "451 4.7.5 REQUIRETLS: no host of connector:out/example.net offered verified TLS: 451 4.7.5 " +
			mx + ": mta-sts policy of example.net: STARTTLS refused: 554 5.7.3 no TLS", NotifyDelay,
			[]string{"Status: 4.7.5", "Diagnostic-Code: smtp; 554 5.7.3 no TLS"}, true},
		{"TLS handshake failed", "451 4.7.5 " + mx + ": TLS handshake failed: EOF", NotifyDelay,
			[]string{"Status: 4.7.5", "!Diagnostic-Code:"}, false},
		{"greeting without a reply", "451 4.4.2 greeting from " + mx + ": EOF", NotifyDelay,
			[]string{"Status: 4.4.2", "<x@example.net>: 451 4.4.2 connection with the next hop broken", "!Diagnostic-Code:"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 7, From: "sender@example.org", Arrived: time.Unix(1e9, 0),
				Rcpts: []Recipient{{Addr: "x@example.net", Queue: "mx:example.net", NextHop: mx, LastReply: c.reply, Status: Failed}}}
			dsn := string(BuildDSN("mx.test", m, []byte("Subject: s\r\n\r\nbody\r\n"), c.kind, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
			for _, w := range c.want {
				if absent, ok := strings.CutPrefix(w, "!"); ok {
					if strings.Contains(dsn, absent) {
						t.Errorf("a %q for umbra's own words:\n%s", absent, dsn)
					}
				} else if !strings.Contains(dsn, w) {
					t.Errorf("no %q:\n%s", w, dsn)
				}
			}
			if got := strings.Contains(dsn, "Remote-MTA: dns; mx.example.net\r\n"); got != c.remoteMTA {
				t.Errorf("Remote-MTA named: %v, want %v:\n%s", got, c.remoteMTA, dsn)
			}
			if c.remoteMTA && strings.Contains(dsn, "connection with the next hop broken") {
				t.Errorf("the host's reply described as a broken connection:\n%s", dsn)
			}
		})
	}
}
