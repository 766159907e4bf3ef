package smtp

import (
	"bytes"
	"strings"
	"testing"
)

// SMTP-5 (rt21b M1, L1): a check's Content has the header/body boundary
// umbra stores: where the client's header section ended at a line that
// is no field (a first line that is none, a leading continuation, a line
// after some fields), the empty line is there before the check runs, and
// what the check sees after the trace field is what is stored.
func TestCheckSeesStoredBoundary(t *testing.T) {
	for _, c := range []struct{ sent, content string }{
		{"garbage first line\r\nFrom: a@sender.test\r\n\r\nbody\r\n", "\r\ngarbage first line\r\nFrom: a@sender.test\r\n\r\nbody\r\n"},
		{" X-First: x\r\nFrom: a@sender.test\r\n", "\r\n X-First: x\r\nFrom: a@sender.test\r\n"},
		{"Subject: s\r\nFrom ceo@example.org Thu Dec  3 00:00:00 2026\r\nFrom: a@sender.test\r\n",
			"Subject: s\r\n\r\nFrom ceo@example.org Thu Dec  3 00:00:00 2026\r\nFrom: a@sender.test\r\n"},
		{"Subject: s\r\nFrom: a@sender.test\r\n\r\nbody\r\n", "Subject: s\r\nFrom: a@sender.test\r\n\r\nbody\r\n"},
		// a header section alone gets its empty line too (TestHeaderOnlyMessageGetsEmptyLine)
		{"Subject: s\r\nFrom: a@sender.test\r\n", "Subject: s\r\nFrom: a@sender.test\r\n\r\n"},
	} {
		var seen []byte
		ck := &scripted{edit: func(t *Transaction) { seen = append([]byte(nil), t.Content...) }}
		q := &fakeQueue{}
		s := startWithChecks(t, q, ck)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO client.test", "250")
		d.cmd("MAIL FROM:<a@sender.test>", "250")
		d.cmd("RCPT TO:<u@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd(strings.TrimSuffix(c.sent, "\r\n")+"\r\n.", "250")
		if string(seen) != c.content {
			t.Errorf("sent %q: the check saw %q, want %q", c.sent, seen, c.content)
		}
		q.mu.Lock()
		stored := q.bodies[0]
		q.mu.Unlock()
		if !bytes.HasSuffix(stored, []byte(c.content)) || !bytes.HasPrefix(stored, []byte("Received:")) ||
			!bytes.HasSuffix(stored[:len(stored)-len(c.content)], []byte("\r\n")) || bytes.Contains(stored[:len(stored)-len(c.content)], []byte("\r\n\r\n")) {
			t.Errorf("sent %q: stored %q, want the trace field, then what the check saw", c.sent, stored)
		}
	}
}
