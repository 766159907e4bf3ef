package milter

import (
	"fmt"
	"strings"
	"testing"
)

// A field with white space before its colon (RFC 5322 §4.5.3's obsolete
// syntax, "From : a@…") is a header field for the milter exactly as it
// is for umbra's own header work, which stores and delivers it as one:
// the milter gets it as a header event, named without the blanks as
// Postfix sends it, and the body starts at the empty line. The rt57 M1
// case: the milter was told the header section ended there and got the
// rest of it as body, so a header-based policy never saw From.
func TestMilterFieldWithBlankBeforeColon(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"first", "From : a@sender.test\r\nSubject: mid\r\nTo: u@example.test\r\n\r\nwire money\r\n",
			`header From=a@sender.test|header Subject=mid|header To=u@example.test|eoh|body "wire money\r\n"|eom`},
		{"middle", "Subject: mid\r\nFrom : a@sender.test\r\nX-Spam-Flag: NO\r\nTo: u@example.test\r\n\r\nwire money\r\n",
			`header Subject=mid|header From=a@sender.test|header X-Spam-Flag=NO|header To=u@example.test|eoh|body "wire money\r\n"|eom`},
		{"tab", "Subject\t: tab\r\nFrom:  a@sender.test\r\n\r\nbody\r\n",
			`header Subject=tab|header From=a@sender.test|eoh|body "body\r\n"|eom`},
		{"folded", "From \t : a@sender.test\r\n  (folded)\r\nTo: u@example.test\r\n\r\nbody\r\n",
			"header From=a@sender.test\n  (folded)|header To=u@example.test|eoh|" + `body "body\r\n"|eom`},
	} {
		for _, bdat := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bdat=%v", tc.name, bdat), func(t *testing.T) {
				s := &script{}
				q := &fakeQueue{}
				mta := startMTA(t, q, milterConf(startMilter(t, s), ""))
				d := dial(t, mta)
				d.cmd("EHLO client.test", "250")
				var got string
				if bdat {
					d.cmd("MAIL FROM:<a@sender.test>", "250")
					d.cmd("RCPT TO:<u@example.test>", "250")
					if _, err := d.conn.Write([]byte(fmt.Sprintf("BDAT %d LAST\r\n%s", len(tc.content), tc.content))); err != nil {
						t.Fatal(err)
					}
					got = d.reply()
				} else {
					got = d.send("a@sender.test", []string{"u@example.test"}, tc.content)
				}
				if !strings.HasPrefix(got, "250") {
					t.Fatalf("end of data: %q", got)
				}
				want := "connect unknown tcp4 127.0.0.1|helo client.test|mail a@sender.test|rcpt u@example.test|" + tc.want
				if seen := s.seen(); seen != want {
					t.Fatalf("milter saw\n%s\nwant\n%s", seen, want)
				}
				_, body := q.last(t)
				if !strings.HasSuffix(body, "\r\n"+tc.content) {
					t.Fatalf("queued\n%q\nwant it to end in the message as sent\n%q", body, tc.content)
				}
			})
		}
	}
}
