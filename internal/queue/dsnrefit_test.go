package queue

import (
	"context"
	"strings"
	"testing"
)

// SMTP-7 (rt21d M1): a failure DSN that returns the whole message and
// is refused on the way back as too big (a site link's cap, a
// connector's, the next hop's SIZE) is sent again with the headers
// only, as a message over bounce_size_limit comes back; only when even
// that does not fit is the bounce lost.
func TestDSNTooBigForTheWayBackReturnsHeadersOnly(t *testing.T) {
	for _, c := range []struct {
		name      string
		refusals  int // how often the way back refuses the DSN as too big
		wantLost  bool
		wantFinal string // the last DSN's returned part
	}{
		{"headers fit", 1, false, "text/rfc822-headers"},
		{"nothing fits", 2, true, "text/rfc822-headers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			ev := &rcptEvents{}
			d := newScripted(func(addr string, n int) (Outcome, string) {
				switch addr {
				case "bad@example.net":
					return FailedPerm, "550 5.1.1 no such user"
				case "sender@example.org":
					if n <= c.refusals {
						return FailedPerm, "552 5.3.4 message of 31674 bytes exceeds the limit of 30720 bytes of site link s2-s3 on the least-cost path"
					}
				}
				return RelayedOK, "250 ok"
			})
			q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Events: ev})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			m := msg(s, "sender@example.org", "bad@example.net")
			m.RetFull = true
			big := body + strings.Repeat("a line of the message body\r\n", 1000)
			if err := q.Submit(ctx, m, []byte(big)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "every attempt", func() bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				return d.attempts["sender@example.org"] == 1+min(c.refusals, 1) && len(messages(t, s)) == 0
			})
			d.mu.Lock()
			var dsns []*Message
			for _, sm := range d.seen {
				if sm.From == "" {
					dsns = append(dsns, sm)
				}
			}
			d.mu.Unlock()
			if !strings.Contains(dsns[0].Helo, "Content-Type: message/rfc822") {
				t.Fatalf("the first DSN does not return the whole message:\n%.600s", dsns[0].Helo)
			}
			last := dsns[len(dsns)-1].Helo
			if len(dsns) != 2 || !strings.Contains(last, "Content-Type: "+c.wantFinal) || strings.Contains(last, "a line of the message body") ||
				!strings.Contains(last, "Subject: hi") || !strings.Contains(last, "Final-Recipient: rfc822; bad@example.net") ||
				!strings.Contains(last, "only its headers are returned") || strings.Contains(last, "It is attached below") {
				t.Fatalf("%d DSNs; the one sent again:\n%s", len(dsns), last)
			}
			if len(last) >= len(dsns[0].Helo)/4 {
				t.Errorf("the DSN sent again has %d bytes of the first's %d", len(last), len(dsns[0].Helo))
			}
			if c.wantLost { // the event follows the commit
				waitFor(t, "the bounce-lost event", func() bool { return ev.count("bounce-lost sender@example.org") > 0 })
			}
			if got := ev.count("bounce-lost sender@example.org"); (got == 1) != c.wantLost || got > 1 {
				t.Errorf("%d bounce-lost events, want lost=%v", got, c.wantLost)
			}
		})
	}
}
