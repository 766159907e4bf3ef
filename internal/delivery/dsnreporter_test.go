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
		{"a@null.example", "5.1.10", "", "X-Umbra"},
		{"a@noaddr.example", "5.", "", "X-Umbra"},
		{"a@missing.example", "5.1.2", "", "X-Umbra"},
		{"a@down.example", "4.", "", "X-Umbra"}, // nothing listens on 127.0.0.3
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
		if !strings.Contains(dsn, "Diagnostic-Code: "+c.diag+"; ") {
			t.Errorf("%s: want a Diagnostic-Code of type %s (reply %q):\n%s", c.rcpt, c.diag, r.LastReply, dsn)
		}
	}
}
