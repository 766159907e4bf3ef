package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// What delivery writes into a result is what the DSN reads to name the
// MTA that reported a status (queue, dsnReporter): a failure umbra
// decided itself names no Remote-MTA and no smtp diagnostic (RFC 3464
// §2.3.5, §2.3.6); a host's own reply names that host.
func TestDSNNamesOnlyTheHostThatReported(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	s.answers["bad@example.net"] = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	dns := &fakeDNS{
		mx: map[string][]*net.MX{
			"example.net":    {{Host: "mx.example.net.", Pref: 10}},
			"null.example":   {{Host: ".", Pref: 0}},
			"noaddr.example": {{Host: "nohost.noaddr.example", Pref: 10}},
			"down.example":   {{Host: "down.example", Pref: 10}},
		},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}, "down.example": {"127.0.0.3"}},
	}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	for _, c := range []struct {
		rcpt, status, remoteMTA, diag string
	}{
		{"bad@example.net", "5.1.1", "mx.example.net", "smtp"},
		{"a@null.example", "5.1.10", "", ""},
		{"a@noaddr.example", "5.", "", ""},
		{"a@missing.example", "5.1.2", "", ""},
		{"a@down.example", "4.", "", ""}, // nothing listens on 127.0.0.3
	} {
		m := message(c.rcpt)
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 {
			t.Fatalf("%s: %+v", c.rcpt, res)
		}
		r := &m.Rcpts[0]
		r.Queue, r.NextHop, r.LastReply = res[0].Queue, res[0].NextHop, res[0].Reply
		kind := queue.NotifyFailure
		if res[0].Outcome == queue.Deferred {
			kind = queue.NotifyDelay
		}
		dsn := string(queue.BuildDSN("umbra.test", m, body, kind, []int{0}, time.Now(), time.Now().Add(time.Hour), 9, 0))
		if !strings.Contains(dsn, "Status: "+c.status) {
			t.Errorf("%s: want status %s (next hop %q, reply %q):\n%s", c.rcpt, c.status, r.NextHop, r.LastReply, dsn)
		}
		named := strings.Contains(dsn, "Remote-MTA:")
		if c.remoteMTA == "" && named || c.remoteMTA != "" && !strings.Contains(dsn, "Remote-MTA: dns; "+c.remoteMTA+"\r\n") {
			t.Errorf("%s: want Remote-MTA %q (next hop %q, reply %q):\n%s", c.rcpt, c.remoteMTA, r.NextHop, r.LastReply, dsn)
		}
		// A Diagnostic-Code quotes only a remote server's reply: umbra's
		// own words have none (SPEC Q-3).
		if c.diag != "" && !strings.Contains(dsn, "Diagnostic-Code: "+c.diag+"; ") || c.diag == "" && strings.Contains(dsn, "Diagnostic-Code:") {
			t.Errorf("%s: want a Diagnostic-Code of type %q, \"\" for none (reply %q):\n%s", c.rcpt, c.diag, r.LastReply, dsn)
		}
	}
}

// A copy not written because the mailbox had it already is, for the
// sender, a delivery like any other: its reply — which the DSN quotes,
// and which the sender may be outside the organisation — says
// delivered, in the words a first delivery on that path uses, and names
// no organisation id; the detail goes to the operator (Result.Note:
// tracking and logs). So does a copy held back while another attempt
// delivers it (rt44 L1).
func TestDuplicateReportedAsDelivered(t *testing.T) {
	const org = "0123456789abcdef0123456789abcdef"
	stored := []byte("Received: from c\r\n\tby umbra.test; now\r\nSubject: test\r\n\r\nhello\r\n")
	check := func(what string, m *queue.Message, res []queue.Result, want map[string]string) {
		t.Helper()
		got := byRcpt(m, res)
		var delivered []int
		for i, rc := range m.Rcpts {
			r := got[rc.Addr]
			if r.Reply != want[rc.Addr] {
				t.Errorf("%s, %s: reply %q, want %q", what, rc.Addr, r.Reply, want[rc.Addr])
			}
			if (r.Duplicate || r.Outcome == queue.Deferred) && !strings.Contains(r.Note, org) {
				t.Errorf("%s, %s: the operator's note %q does not name the org id", what, rc.Addr, r.Note)
			}
			m.Rcpts[i].Queue, m.Rcpts[i].NextHop, m.Rcpts[i].LastReply = r.Queue, r.NextHop, r.Reply
			m.Rcpts[i].Notify = queue.NotifySuccess | queue.NotifyDelay
			delivered = append(delivered, i)
		}
		for _, kind := range []queue.Notify{queue.NotifySuccess, queue.NotifyDelay} {
			dsn := strings.ToLower(string(queue.BuildDSN("umbra.test", m, stored, kind, delivered, time.Now(), time.Now().Add(time.Hour), 9, 0)))
			for _, leak := range []string{org, "duplicate", "another copy", "suppressed"} {
				if strings.Contains(dsn, leak) {
					t.Errorf("%s: the DSN says %q:\n%s", what, leak, dsn)
				}
			}
		}
	}

	// Two hubs delivering into one shared Maildir store.
	root := t.TempDir()
	var first []queue.Result
	for i := range 2 {
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
		m := message("ok@example.test")
		m.OrgID = org
		res := d.Deliver(context.Background(), m, stored, all(m))
		if i == 0 {
			first = res
			continue
		}
		if len(res) != 1 || !res[0].Duplicate {
			t.Fatalf("second hub: %+v, want a suppressed duplicate", res)
		}
		check("found in the maildir", m, res, map[string]string{"ok@example.test": first[0].Reply})
	}

	// The duplicate record of this server's database, and a copy in flight.
	d := newDelivererWith(t, &fakeDNS{}, config.Mailbox{Maildir: t.TempDir(), Database: "DB1"},
		seenSet{"DB1|" + org + "|old@example.test": true, "busy|" + org + "|wait@example.test": true})
	m := message("old@example.test", "wait@example.test")
	m.OrgID = org
	check("recorded before", m, d.Deliver(context.Background(), m, stored, all(m)), map[string]string{
		"old@example.test":  "250 2.0.0 delivered to maildir",
		"wait@example.test": "451 4.3.0 another delivery of this message to the mailbox is in progress",
	})
}
