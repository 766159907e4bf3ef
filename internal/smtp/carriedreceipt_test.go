package smtp

import (
	"strings"
	"testing"
	"time"
)

// rdlife49: the organisation's first receipt (X-Umbra-Received-At) is
// believed only from an authenticated transport server of it: from
// anyone else the field is removed and names no receipt, and a
// malformed one from a hub names none either (the queue bounds a well
// formed one, settleArrival).
func TestRdlife49CarriedReceiptBelievedFromServersOnly(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name, auth, said string
		want             time.Time
	}{
		{"anonymous sender", "", "1700000000", time.Time{}},
		{"server account", authHub2, "1700000000", time.Unix(1700000000, 0)},
		{"server account, garbage", authHub2, "soon", time.Time{}},
		{"server account, past any clock", authHub2, "99999999999999999999", time.Time{}},
		{"server account, negative", authHub2, "-5", time.Time{}},
	} {
		msg := "X-Umbra-Org-Id: " + id + "\r\nX-Umbra-Arrived: 1700000500\r\nX-Umbra-Received-At: " + c.said + "\r\nSubject: relayed\r\n\r\nbody\r\n"
		t.Run(c.name, func(t *testing.T) {
			q := &fakeQueue{}
			s := startServer(t, q, transportConnectorAt(t, freeAddrIn(t, "127.0.0.168", 9800, 9999))...)
			d := dial(t, s, "127.0.0.168")
			d.expect("220")
			d.cmd("EHLO c", "250")
			if c.auth != "" {
				d.cmd(c.auth, "235")
			}
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send(msg + ".\r\n")
			d.expect("250")
			if q.count() != 1 {
				t.Fatalf("%d messages queued", q.count())
			}
			m, body := q.msgs[0], q.bodies[0]
			if !m.CarriedReceived.Equal(c.want) {
				t.Errorf("receipt carried %v, want %v", m.CarriedReceived, c.want)
			}
			if strings.Contains(string(body), "X-Umbra-Received-At") {
				t.Errorf("the field was stored:\n%s", body)
			}
		})
	}
}
