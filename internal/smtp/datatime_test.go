package smtp

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// limits.max_data_time bounds a message's whole transfer (SMTP-, the
// receive side's body bound): a DATA body or a BDAT transfer that keeps
// just above min_data_rate — never cut for being slow — is cut once it
// has taken max_data_time, with 421 4.4.2, and nothing is queued (no 250
// was given). A body within the bound is taken.
func TestBodyTransferBoundedByMaxDataTime(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	q := &fakeQueue{}
	s := startServerClock(t, clk, q, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 20s, min_data_rate: 500, max_data_time: 1m}
`)
	line := strings.Repeat("x", 998) + "\r\n" // 1000 bytes a second: twice min_data_rate
	for _, bdat := range []bool{false, true} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		if bdat {
			d.send("BDAT 20\r\nSubject: r\r\n\r\nhi\r\n\r\n")
			d.expect("250")
		} else {
			d.cmd("DATA", "354")
			d.send("Subject: r\r\n\r\n")
		}
		got := ""
		for i := 0; i < 90 && got == ""; i++ {
			if bdat {
				d.send("BDAT 1000\r\n" + line)
				if r := d.reply(); !strings.HasPrefix(r, "250") {
					got = r
				}
			} else {
				d.send(line)
				time.Sleep(2 * time.Millisecond) // let the server read it at this time
			}
			clk.Advance(time.Second)
		}
		if got == "" {
			if bdat {
				d.send("BDAT 0 LAST\r\n")
			} else {
				d.send(".\r\n")
			}
			got = d.reply()
		}
		if !strings.HasPrefix(got, "421 4.4.2") {
			t.Errorf("bdat %v: a 90 s transfer at twice min_data_rate under max_data_time 1m: %q, want 421 4.4.2", bdat, got)
		}
	}
	if n := q.count(); n != 0 {
		t.Errorf("%d messages queued", n)
	}
	// Within the bound: taken.
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: r\r\n\r\n")
	for i := 0; i < 30; i++ {
		d.send(line)
		time.Sleep(2 * time.Millisecond)
		clk.Advance(time.Second)
	}
	d.send(".\r\n")
	d.expect("250")
	if n := q.count(); n != 1 {
		t.Errorf("%d messages queued, want the one within the bound", n)
	}
}
