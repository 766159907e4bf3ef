package queue

import (
	"context"
	"fmt"
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

// SMTP-7 (dsnfit42): a message of header fields alone near the way
// back's limit has a header section as large as the whole message, so
// the DSN made again with the headers only was as large as the first and
// refused again: the bounce was lost. Where the refusal names the limit
// (routing's caps, a send connector's own limit, the next hop's SIZE),
// the DSN made again is cut at a field boundary to fit it, and reaches
// the sender.
func TestDSNOfHeaderFieldsAloneFitsTheWayBack(t *testing.T) {
	for _, c := range []struct {
		name   string
		refuse func(n, limit int) string
	}{
		{"routing cap", func(n, limit int) string {
			return fmt.Sprintf("552 5.3.4 message of %d bytes exceeds the limit of %d bytes of site link s2-s3 on the least-cost path", n, limit)
		}},
		{"next hop SIZE", func(n, limit int) string {
			return fmt.Sprintf("552 5.3.4 hub-b takes messages of at most %d bytes (its SIZE), this one is %d bytes", limit, n)
		}},
		// rrsize43: a single server's send connector (no topology).
		{"send connector", func(n, limit int) string {
			return fmt.Sprintf("552 5.3.4 message size %d exceeds the limit %d of send connector sink", n, limit)
		}},
		{"send connector, held without trace", func(n, limit int) string {
			return fmt.Sprintf("552 5.3.4 message size %d exceeds the limit %d of send connector sink (the size held to limits: "+
				"the message as sent, without the trace header fields umbra's servers added; %d bytes as stored, the size the log and umbra message list give)", n, limit, n)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			const limit = 30720
			s := openTest(t)
			ev := &rcptEvents{}
			var d *scripted
			d = newScripted(func(addr string, n int) (Outcome, string) {
				switch addr {
				case "bad@example.net":
					return FailedPerm, "550 5.1.1 no such user"
				case "sender@example.org":
					// Called with d.mu held: the body just seen is the last.
					if size := len(d.seen[len(d.seen)-1].Helo); size > limit {
						return FailedPerm, c.refuse(size, limit)
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
			fields := "From: sender@example.org\r\nTo: bad@example.net\r\nSubject: hi\r\n"
			for len(fields) < limit-200 {
				fields += "X-Pad: " + strings.Repeat("p", 71) + "\r\n"
			}
			if err := q.Submit(ctx, m, []byte(fields+"\r\n")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "every attempt", func() bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				return d.attempts["sender@example.org"] >= 2 && len(messages(t, s)) == 0
			})
			d.mu.Lock()
			var dsns []*Message
			for _, sm := range d.seen {
				if sm.From == "" {
					dsns = append(dsns, sm)
				}
			}
			d.mu.Unlock()
			if len(dsns) != 2 || !strings.Contains(dsns[0].Helo, "Content-Type: message/rfc822") {
				t.Fatalf("%d DSNs, the first:\n%.600s", len(dsns), dsns[0].Helo)
			}
			last := dsns[1].Helo
			if len(last) > limit || !strings.Contains(last, "Content-Type: text/rfc822-headers") || !strings.Contains(last, "Subject: hi\r\n") ||
				!strings.Contains(last, "Final-Recipient: rfc822; bad@example.net") || !strings.Contains(last, "it is cut at a field boundary") {
				t.Fatalf("the DSN sent again, %d bytes for a limit of %d:\n%.1500s", len(last), limit, last)
			}
			if whole := strings.Count(last, "X-Pad: "+strings.Repeat("p", 71)+"\r\n"); whole == 0 || whole != strings.Count(last, "X-Pad: ") {
				t.Errorf("the returned section is not cut at a field boundary:\n%s", last[len(last)-300:])
			}
			if got := ev.count("bounce-lost sender@example.org"); got != 0 {
				t.Errorf("%d bounce-lost events", got)
			}
		})
	}
}
