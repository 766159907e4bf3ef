package smtp

import (
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// The client declares BODY=8BITMIME only for a message that is 8-bit
// (MailOptions.Body), never on its own because the hop offers 8BITMIME
// (go-smtp adds it to every MAIL to such a hop): a 7-bit message, a DSN
// of umbra's own, a callout's MAIL FROM:<> go without it — on the
// pipelined path and the one command at a time alike — and the hop
// stores what was declared.
func TestMailDeclaresEightBitOnlyForEightBitMessages(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: mx
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	c, wl := logClient(t, s.Addrs()[0].String())
	if ok, _ := c.Extension("8BITMIME"); !ok {
		t.Fatal("umbra's listener does not offer 8BITMIME")
	}
	body := []byte("Subject: p\r\n\r\nbody\r\n")
	rcpts := []Recipient{{Addr: "a@example.test"}}
	for k, tc := range []struct {
		opts *gosmtp.MailOptions
		want bool
	}{
		{nil, false},
		{&gosmtp.MailOptions{Size: int64(len(body))}, false},
		{&gosmtp.MailOptions{Body: gosmtp.Body7Bit}, false},
		{&gosmtp.MailOptions{Body: gosmtp.Body8BitMIME}, true},
		{nil, false}, // the declaration of the one before is not kept
	} {
		p := c.Pipeline("s@example.org", tc.opts, rcpts, [][]byte{body}, false)
		if p.Err != nil || p.Mail != nil || len(p.Final) != 1 || p.Final[0].Err != nil {
			t.Fatalf("%d: pipeline: %v %v %+v", k, p.Err, p.Mail, p.Final)
		}
		w := wl.commandWrites()
		mail := w[len(w)-1]
		mail = mail[:strings.Index(mail, "\r\n")]
		if got := strings.Contains(mail, "BODY=8BITMIME"); got != tc.want {
			t.Errorf("%d: %q; BODY=8BITMIME %v, want %v", k, mail, got, tc.want)
		}
		if n := q.count(); n != k+1 || q.msgs[k].EightBit != tc.want {
			t.Errorf("%d: stored EightBit %v, want %v", k, q.msgs[k].EightBit, tc.want)
		}
	}
	// One command at a time (no pipelining): the same rule.
	for _, tc := range []struct {
		opts *gosmtp.MailOptions
		want bool
	}{{nil, false}, {&gosmtp.MailOptions{Body: gosmtp.Body8BitMIME}, true}} {
		if err := c.Mail("s@example.org", tc.opts); err != nil {
			t.Fatal(err)
		}
		w := wl.commandWrites()
		mail := w[len(w)-1]
		if got := strings.Contains(mail, "BODY=8BITMIME"); got != tc.want {
			t.Errorf("MAIL %q; BODY=8BITMIME %v, want %v", mail, got, tc.want)
		}
		if err := c.Rset(); err != nil {
			t.Fatal(err)
		}
	}
}
