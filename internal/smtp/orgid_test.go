package smtp

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
)

// The header firewall (SR-14): the organisation message id and every
// other umbra header are kept only from an authenticated transport
// server of the organisation (a server account, or an externally secured
// connector); from anyone else they are removed before the message is
// queued, so an outside sender cannot name another message. Both
// directions, over real SMTP on loopback.
func TestHeaderFirewall(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	// The organisation's arrival and its delay notice travel under the
	// same rules (rt21d M2, M3), and so does the mark of a copy that may
	// repeat a lost mailbox write (TD-1: queue MayRepeat).
	msg := "X-Umbra-Org-Id: " + id + "\r\nX-Umbra-Arrived: 1796341050\r\nX-Umbra-Delay-Notified: yes\r\nX-Umbra-Repeat: yes\r\n" +
		"X-Umbra-Other: forged\r\n\tfolded\r\nSubject: hi\r\nMessage-ID: <m@x>\r\n\r\nX-Umbra-Org-Id: body text stays\r\n.\r\n"
	cases := []struct {
		name    string
		extra   string // connector settings
		auth    string // AUTH line, "" for none
		wantOrg string
	}{
		{"anonymous sender", "", "", ""},
		{"authenticated user, not a server", "", authAlice, ""},
		{"server account", "", authHub2, id},
		{"externally secured connector", "    externally_secured: true\n", "", id},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := &fakeQueue{}
			s := startServer(t, q, transportConnector(t, c.extra)...)
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			if c.auth != "" {
				d.cmd(c.auth, "235")
			}
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send(msg)
			d.expect("250")
			if q.count() != 1 {
				t.Fatalf("%d messages queued", q.count())
			}
			m, body := q.msgs[0], q.bodies[0]
			if m.OrgID != c.wantOrg {
				t.Errorf("org id %q, want %q", m.OrgID, c.wantOrg)
			}
			if trusted := c.wantOrg != ""; m.DelayNotified != trusted || m.CarriedArrival.Equal(time.Unix(1796341050, 0)) != trusted ||
				!trusted && !m.CarriedArrival.IsZero() {
				t.Errorf("carried arrival %v, delay notified %v; want them believed only from a server (%v)", m.CarriedArrival, m.DelayNotified, trusted)
			}
			if trusted := c.wantOrg != ""; m.MayRepeat != trusted {
				t.Errorf("repeat mark %v; want it believed only from a server (%v)", m.MayRepeat, trusted)
			}
			head, rest, _ := bytes.Cut(body, []byte("\r\n\r\n"))
			if bytes.Contains(bytes.ToLower(head), []byte("x-umbra-")) || bytes.Contains(head, []byte("folded")) {
				t.Errorf("umbra headers left in the stored header section:\n%s", head)
			}
			if !bytes.Contains(rest, []byte("X-Umbra-Org-Id: body text stays")) || !bytes.Contains(head, []byte("Subject: hi")) {
				t.Errorf("the firewall changed more than umbra's headers:\n%s", body)
			}
			if m.MessageID != "<m@x>" {
				t.Errorf("Message-ID %q", m.MessageID)
			}
		})
	}
}

// A malformed id from a trusted server is not kept (the queue gives a
// new one): an id is 32 lower-case hex digits.
func TestHeaderFirewallMalformedID(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, transportConnector(t, "    externally_secured: true\n")...)
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.send("X-Umbra-Org-Id: " + strings.Repeat("Z", 32) + "\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
	d.expect("250")
	if q.count() != 1 || q.msgs[0].OrgID != "" || bytes.Contains(q.bodies[0], []byte(orgid.Header)) {
		t.Fatalf("malformed id kept: %q", q.msgs[0].OrgID)
	}
}

// OPS-4 (rt21d L6): a Message-ID folded inside the id is recorded as
// the id, without the folding's white space, so a search for the id
// finds the message.
func TestFoldedMessageIDRecordedUnfolded(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, transportConnector(t, "")...)
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.send("Message-ID: <bbb@\r\n rt21d.test> (a comment)\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
	d.expect("250")
	if q.count() != 1 || q.msgs[0].MessageID != "<bbb@rt21d.test>" {
		t.Fatalf("Message-ID recorded as %q", q.msgs[0].MessageID)
	}
}
