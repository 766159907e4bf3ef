package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SPEC Q-3, SMTP-1 (RFC 3464 §2.3.6; rt27d F3): the Diagnostic-Code of
// a DSN about a recipient the mailbox store's LMTP server answered is of
// type smtp — that server's own reply — whatever its words: a reply that
// says "lmtp", or begins as one of umbra's own diagnostics does with
// another code, is still the server's. umbra's own words about the LMTP
// session (the server unreachable, the session broken) get none: a
// Diagnostic-Code quotes only a remote server's reply.
// Real LMTP over loopback; the DSN is built from the delivery's result.
func TestLMTPReplyLabelledByItsSourceNotItsWords(t *testing.T) {
	for _, c := range []struct {
		name, final string
		down        bool // no LMTP server listening: umbra's own words
		utf8        bool // an SMTPUTF8 message the server cannot take: umbra refuses it
		want        string
	}{
		{"reply naming lmtp", "550 5.2.2 mailbox full (lmtp)", false, false, "smtp"},
		{"reply without it", "550 5.2.2 mailbox full here", false, false, "smtp"},
		{"reply in umbra's session words", "552 5.2.2 lmtp: quota exceeded", false, false, "smtp"},
		{"reply in umbra's unreachable words", "550 5.1.1 LMTP server unreachable: no such mailbox", false, false, "smtp"},
		{"reply in umbra's greeting words", "452 4.2.2 LMTP greeting failed: over quota", false, false, "smtp"},
		{"server unreachable", "", true, false, ""},
		{"refused from the LHLO answer", "", false, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var addr string
			if c.down {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr = ln.Addr().String()
				ln.Close()
			} else {
				h := &replyHop{lmtp: true, finalReply: c.final}
				addr = h.start(t, "127.0.0.1:0")
			}
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: addr})
			m := message("b@example.test")
			content := body
			if c.utf8 {
				m.UTF8, content = true, []byte("Subject: caf\xc3\xa9\r\n\r\nhi\r\n")
			}
			res := d.Deliver(context.Background(), m, content, all(m))
			if len(res) != 1 {
				t.Fatalf("results %+v", res)
			}
			r := res[0]
			if c.final != "" && r.Reply != c.final {
				t.Fatalf("reply %q, want the server's %q", r.Reply, c.final)
			}
			m.From = "a@example.test"
			m.Arrived = time.Unix(1e9, 0)
			rc := &m.Rcpts[0]
			rc.Queue, rc.NextHop, rc.LastReply, rc.Status = "mailbox:DB01", r.NextHop, r.Reply, queue.Failed
			kind := queue.NotifyFailure
			if r.Outcome == queue.Deferred {
				rc.Status, kind = queue.Pending, queue.NotifyDelay
			}
			dsn := string(queue.BuildDSN("mx.test", m, body, kind, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
			if want := "Diagnostic-Code: " + c.want + "; "; c.want != "" && !strings.Contains(dsn, want) || c.want == "" && strings.Contains(dsn, "Diagnostic-Code:") {
				i := strings.Index(dsn, "Final-Recipient")
				t.Errorf("reply %q: want %q:\n%s", r.Reply, want, dsn[i:min(len(dsn), i+300)])
			}
		})
	}
}
