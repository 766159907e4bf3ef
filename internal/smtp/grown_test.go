package smtp

import (
	"fmt"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// SMTP-5 (README "What a size limit measures"): the receiving session
// records how many bytes its own work added to the message as sent
// (queue.Message.Grown), in memory and spooled, by DATA and by BDAT:
// the empty line after a header section alone (and the line break after
// its last line sent without one, BDAT only: four bytes), the empty line
// between the header fields and a first line that is no field, a CR
// before each bare LF (bare_newlines: normalize) — and nothing for a
// message it stores as sent. Size limits hold the message without them
// (package delivery), so one sent at exactly the receive connector's
// limit passes a send connector of the same limit.
func TestSMTP5SessionRecordsBytesItAdds(t *testing.T) {
	const n = 6000
	fields := func(end string) string {
		b := "Subject: fields alone\r\n"
		for len(b)+80 < n {
			b += "X-Pad: " + strings.Repeat("p", 71) + "\r\n"
		}
		return b + "X-End: " + strings.Repeat("e", n-len(b)-7-len(end)) + end
	}
	lines := func(head, eol string) string {
		b := head
		for len(b)+80 < n {
			b += strings.Repeat("y", 78-len(eol)+2) + eol
		}
		return b + strings.Repeat("z", n-len(b)-2) + "\r\n"
	}
	bareLF := lines("Subject: bare\r\n\r\n", "\n")
	cases := []struct {
		name  string
		msg   string
		bdat  bool // by BDAT only
		grown int64
	}{
		{"plain", lines("Subject: plain\r\n\r\n", "\r\n"), false, 0},
		{"fields alone", fields("\r\n"), false, 2},
		{"fields alone, no CRLF", fields(""), true, 4},
		{"no empty line", lines("Subject: s\r\nthis line is no field\r\n", "\r\n"), false, 2},
		{"no header section", lines("no field here\r\n", "\r\n"), false, 2},
		{"bare LF", bareLF, false, int64(strings.Count(bareLF, "\n") - strings.Count(bareLF, "\r\n"))},
	}
	for _, spooled := range []bool{false, true} {
		addr := freeAddrIn(t, "127.0.0.152", 8200, 8399)
		conns := connectors(t, fmt.Sprintf(`
  - name: in
    bindings: [%q]
    permissions: {anonymous: [submit]}
    bare_newlines: normalize
    limits: {max_message_size: %d}
`, addr, n))
		q := &bodyQueue{}
		var s *Server
		if spooled {
			st, _ := spoolStore(t)
			s = startSpoolServer(t, q, st, 1024, 0, conns...)
		} else {
			s = startServer(t, q, conns...)
		}
		d := dial(t, s, "127.0.0.152")
		d.expect("220")
		d.cmd("EHLO c", "250")
		for _, tc := range cases {
			if len(tc.msg) != n {
				t.Fatalf("%s: %d bytes, want %d", tc.name, len(tc.msg), n)
			}
			for _, bdat := range []bool{true, false} {
				if tc.bdat && !bdat {
					continue
				}
				got := sendOne(d, q, []byte(tc.msg), bdat, 1000)
				if !strings.HasPrefix(got.reply, "250") {
					t.Fatalf("%s (spooled %v, BDAT %v) at the limit: %q", tc.name, spooled, bdat, got.reply)
				}
				if got.grown != tc.grown || int64(len(got.body))-got.grown != n {
					t.Errorf("%s (spooled %v, BDAT %v): stored %d bytes, %d of them umbra's; want %d and the %d sent",
						tc.name, spooled, bdat, len(got.body), got.grown, tc.grown, n)
				}
			}
		}
		d.cmd("QUIT", "221")
	}
}

// SMTP-5, SR-14 (README "What a size limit measures"): what the
// organisation's earlier servers added to a message (X-Umbra-Grown,
// written by delivery from the record in front of a copy relayed inside
// the organisation) counts as umbra's at the next hub too — believed,
// like the organisation's other header fields, from an authenticated
// transport server of the organisation only: from anyone else the field
// is removed and no byte of the message is taken for umbra's.
func TestSMTP5CarriedGrowthBelievedFromServersOnly(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name  string
		auth  string
		said  string
		grown int64
	}{
		{"anonymous sender", "", "54", 0},
		{"server account", authHub2, "54", 54},
		// rrsize43: more than a record holds is held in memory as the
		// record holds it (queue.MaxGrown), not as said until a restart.
		{"server account, more than a record holds", authHub2, "900000000", queue.MaxGrown},
	} {
		msg := "X-Umbra-Org-Id: " + id + "\r\nX-Umbra-Grown: " + c.said + "\r\nSubject: relayed\r\n\r\nbody\r\n"
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
			if !m.GrownKnown || m.Grown != c.grown {
				t.Errorf("umbra's bytes recorded %d (known %v), want %d", m.Grown, m.GrownKnown, c.grown)
			}
			if strings.Contains(string(body), "X-Umbra-Grown") {
				t.Errorf("the field was stored:\n%s", body)
			}
		})
	}
}

// SMTP-5, SR-17: a shadow copy kept from a batch (version 6) records
// the bytes umbra's servers added, as one pushed alone does: what the
// primary said it added (X-Umbra-Grown) is held to limits as umbra's
// when the copy is delivered after a takeover.
func TestSMTP5BatchCopyKeepsGrownBytes(t *testing.T) {
	q := &batchQueue{}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	peer := startShadowServer(t, q, sh, true, transportConnectorAt(t, freeAddrIn(t, "127.0.0.152", 8200, 8399)))
	c, _ := shadowLogClient(t, peer)
	body := []byte("Received: from x\r\n by y; now\r\nSubject: c\r\n\r\nbody\r\n")
	m := batchMsg("a@example.org", "x@elsewhere.org")
	m.Grown, m.GrownKnown = 54, true
	rec, ok := c.CopyRecord(m, body)
	if !ok {
		t.Fatal("the copy cannot go in a batch")
	}
	if errs, err := c.PushBatch([][]byte{rec}, "dbA"); err != nil || errs[0] != nil {
		t.Fatalf("batch: %v %v", err, errs)
	}
	if err := c.PushCopy(m, body, "dbA"); err != nil {
		t.Fatal(err)
	}
	if len(q.copies) != 2 {
		t.Fatalf("%d copies kept", len(q.copies))
	}
	for i, k := range q.copies {
		if !k.m.GrownKnown || k.m.Grown != 54 {
			t.Errorf("copy %d (batch: %v) kept with %d bytes of umbra's (known %v), want 54", i+1, i == 0, k.m.Grown, k.m.GrownKnown)
		}
	}
}
