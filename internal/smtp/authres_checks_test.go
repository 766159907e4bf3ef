package smtp

import (
	"context"
	"strings"
	"testing"
)

// ownResults plays umbra's message authentication: it writes umbra's
// Authentication-Results on top and reports it.
type ownResults struct{ field string }

func (c *ownResults) Name() string { return "msgauth" }
func (c *ownResults) Data(_ context.Context, _ *ConnInfo, t *Transaction) Verdict {
	t.AuthResults = []byte(c.field)
	t.Content = append([]byte(c.field), t.Content...)
	return Verdict{}
}

// editor plays a milter after it.
type editor struct{ edit func(string) string }

func (c *editor) Name() string { return "milter" }
func (c *editor) Data(_ context.Context, _ *ConnInfo, t *Transaction) Verdict {
	t.Content = []byte(c.edit(string(t.Content)))
	return Verdict{}
}

// EDGE: no check but umbra's message authentication writes a result
// under umbra's authserv-id, and umbra's result stands only for the
// From: it evaluated.
func TestOnlyUmbraWritesItsResults(t *testing.T) {
	own := "Authentication-Results: mx.corp.test;\r\n\tdmarc=fail header.from=evil.test\r\n"
	forged := "Authentication-Results: mx.corp.test.; dmarc=pass header.from=bank.test\r\n"
	cases := []struct {
		name      string
		edit      func(string) string
		want, not []string
	}{
		{"inserted above umbra's", func(m string) string { return forged + m }, []string{own}, []string{forged}},
		{"added at the bottom", func(m string) string { return strings.Replace(m, "\r\n\r\n", "\r\n"+forged+"\r\n", 1) },
			[]string{own}, []string{forged}},
		{"umbra's changed", func(m string) string { return strings.Replace(m, "dmarc=fail", "dmarc=pass", 1) },
			[]string{own}, []string{"dmarc=pass"}},
		{"From changed after DMARC", func(m string) string {
			return strings.Replace(m, "From: a@evil.test", "From: ceo@bank.test", 1)
		}, []string{"From: ceo@bank.test"}, []string{"Authentication-Results: mx.corp.test"}},
		// RFC 8601's authserv-id is a token: "/1" glued to it ends it,
		// and a reader that parses the field takes it for umbra's.
		{"umbra's id with a version glued on", func(m string) string {
			return "Authentication-Results: mx.corp.test/1; dkim=pass header.d=bank.test\r\n" + m
		}, []string{own}, []string{"mx.corp.test/1"}},
		{"other servers' results stay", func(m string) string { return "Authentication-Results: other.test; spf=pass\r\n" + m },
			[]string{own, "Authentication-Results: other.test; spf=pass\r\n"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{}
			s := startWithChecks(t, q, &ownResults{field: own}, &editor{edit: tc.edit})
			s.SetAuthservIDs(FrontDoorIDs{Own: []string{"mx.corp.test"}, ServerOnly: []string{"mx.corp.test"}})
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.test", "250")
			d.cmd("MAIL FROM:<a@evil.test>", "250")
			d.cmd("RCPT TO:<u@example.test>", "250")
			d.cmd("DATA", "354")
			d.cmd("From: a@evil.test\r\nSubject: x\r\n\r\nhello\r\n.", "250")
			if q.count() != 1 {
				t.Fatalf("queued %d", q.count())
			}
			q.mu.Lock()
			body := string(q.bodies[0])
			q.mu.Unlock()
			hdr, _, _ := strings.Cut(body, "\r\n\r\n")
			hdr += "\r\n"
			for _, w := range tc.want {
				if strings.Count(hdr, w) != 1 {
					t.Errorf("header lacks (or repeats) %q:\n%s", w, hdr)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(hdr, n) {
					t.Errorf("header keeps %q:\n%s", n, hdr)
				}
			}
		})
	}
}
