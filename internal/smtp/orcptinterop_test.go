package smtp

import (
	"context"
	"net"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// SMTP-1, RFC 6533 §3, umbra to umbra: a utf-8 ORCPT relayed in a
// transaction without SMTPUTF8 to another umbra server that offers
// SMTPUTF8 is taken (its form is xtext, not raw UTF-8, which that server
// refuses 501 5.5.4) and stored with the same original recipient; in an
// SMTPUTF8 transaction it goes raw and is taken too. Pipelined and
// lock-step.
func TestUTF8OrcptTakenByAnotherUmbra(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: in
    bindings: ["127.0.0.123:0"]
    permissions: {anonymous: [submit]}
`)...)
	const orcpt = "p\u00e9l\u00e9+1\\x@example.org"
	n := 0
	for _, utf8 := range []bool{false, true} {
		for _, pipelined := range []bool{true, false} {
			nc, err := net.Dial("tcp", s.Addrs()[0].String())
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone, CommandTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if ok, _ := c.Extension("SMTPUTF8"); !ok {
				t.Fatal("the receiving umbra does not offer SMTPUTF8")
			}
			mo := &gosmtp.MailOptions{UTF8: utf8}
			ro := &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure}, OriginalRecipientType: gosmtp.DSNAddressTypeUTF8, OriginalRecipient: orcpt}
			parts := [][]byte{[]byte("Subject: t\r\n\r\nhello\r\n")}
			if pipelined {
				p := c.Pipeline("a@example.org", mo, []Recipient{{Addr: "b@example.test", Opts: ro}}, parts, false)
				if p.Err != nil || p.Mail != nil || len(p.Rcpts) != 1 || p.Rcpts[0] != nil || p.Data != nil {
					t.Fatalf("utf8 %v, pipelined: %+v (rcpt %v)", utf8, p, p.Rcpts)
				}
			} else {
				if err := c.Mail("a@example.org", mo); err != nil {
					t.Fatal(err)
				}
				if err := c.Rcpt("b@example.test", ro); err != nil {
					t.Fatalf("utf8 %v, lock-step: RCPT %v", utf8, err)
				}
				w, err := c.Data()
				if err != nil {
					t.Fatal(err)
				}
				w.Write(parts[0])
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			n++
			q.mu.Lock()
			if len(q.msgs) != n {
				q.mu.Unlock()
				t.Fatalf("utf8 %v, pipelined %v: %d messages stored", utf8, pipelined, len(q.msgs))
			}
			m := q.msgs[n-1]
			q.mu.Unlock()
			if len(m.Rcpts) != 1 || m.Rcpts[0].ORcpt != "utf-8;"+orcpt && m.Rcpts[0].ORcpt != "UTF-8;"+orcpt {
				t.Errorf("utf8 %v, pipelined %v: stored %+v", utf8, pipelined, m.Rcpts)
			}
		}
	}
}
