package smtp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Two hubs with the same max_message_size: a message the first takes at
// exactly the limit gets its shadow copy on the second (the copy carries
// the first hub's Received field and the organisation id, so it is
// larger than the limit), in memory and spooled.
func TestShadowCopyAtSizeLimit(t *testing.T) {
	const limit = 8000
	lim := fmt.Sprintf("    limits: {max_message_size: %d}\n", limit)
	for _, spool := range []bool{false, true} {
		peerQ := &copyQueue{}
		peer := startShadowServer(t, peerQ, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, lim))
		q := &bodyQueue{}
		var s *Server
		if spool {
			st, _ := spoolStore(t)
			s = receiptServerSpool(t, q, "    shadow_on_receipt: local-only\n"+lim, &fakeReceipt{peer: peer}, st)
		} else {
			s = receiptServer(t, q, "    shadow_on_receipt: local-only\n"+lim, &fakeReceipt{peer: peer})
		}
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO client.example", "250")
		msg := sizedMessage(limit)
		d.cmd(fmt.Sprintf("MAIL FROM:<a@example.org> SIZE=%d", limit), "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		got := d.cmd(dotStuff(msg)+".", "250")
		if !strings.Contains(got, "shadow copy on hub-b") || len(peerQ.copies) != 1 {
			t.Fatalf("spooled=%v: reply %q, %d copies on the peer", spool, got, len(peerQ.copies))
		}
		if c := peerQ.copies[0].body; len(c) <= limit || !bytes.HasSuffix(c, []byte(msg)) {
			t.Fatalf("spooled=%v: copy of %d bytes, not the message behind the first hub's fields", spool, len(c))
		}
	}
}

// A relay between hubs: what the first hub stored at exactly the limit
// (its Received field in front, and the organisation id delivery writes)
// is taken by the next hub from an authenticated transport server, by
// DATA and BDAT, with a MAIL SIZE= of its real size. An anonymous client
// and an authenticated user get the limit exactly; a transport server
// past the allowance is refused. The header section limit follows the
// same rule.
func TestRelayBetweenHubsAtSizeLimit(t *testing.T) {
	const limit = 8000
	lim := fmt.Sprintf("    limits: {max_message_size: %d}\n", limit)
	first := &bodyQueue{}
	a := startServer(t, first, transportConnector(t, lim)...)
	d := dial(t, a, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	msg := sizedMessage(limit)
	d.cmd(dotStuff(msg)+".", "250")
	if first.count() != 1 {
		t.Fatal("the first hub did not queue the message")
	}
	relayed := "X-Umbra-Org-Id: 0123456789abcdef0123456789abcdef\r\n" + string(first.bodies[0])
	if len(relayed) <= limit {
		t.Fatalf("relayed copy of %d bytes is not over the limit", len(relayed))
	}

	st, _ := spoolStore(t)
	for _, spool := range []bool{false, true} {
		next := &bodyQueue{}
		threshold := int64(1 << 30)
		if spool {
			threshold = 1024
		}
		b := startSpoolServer(t, next, st, threshold, 4096, transportConnector(t, lim)...)
		send := func(auth, body string, bdat bool, want string) {
			t.Helper()
			d := dial(t, b, "")
			d.expect("220")
			d.cmd("EHLO hub2.test", "250")
			if auth != "" {
				d.cmd(auth, "235")
			}
			wantMail := "250"
			if auth != authHub2 && len(body) > limit || len(body) > limit+transportAllowance {
				wantMail = "552 5.3.4"
			}
			d.cmd(fmt.Sprintf("MAIL FROM:<a@example.org> SIZE=%d", len(body)), wantMail)
			if wantMail != "250" {
				d.cmd("MAIL FROM:<a@example.org>", "250")
			}
			d.cmd("RCPT TO:<b@example.test>", "250")
			if bdat {
				d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
			} else {
				d.cmd("DATA", "354")
				d.send(dotStuff(body) + ".\r\n")
			}
			if got := d.reply(); !strings.HasPrefix(got, want) {
				t.Errorf("spooled=%v auth=%q bdat=%v %d bytes: got %q, want %q", spool, auth, bdat, len(body), got, want)
			}
		}
		// Over the allowance: padding in the body.
		huge := sizedMessage(limit + transportAllowance + 1)
		// A header section over max_header_size (4096) by a hop's fields.
		field := "X-Pad: " + strings.Repeat("h", 89) + "\r\n" // 98 bytes
		bigHead := strings.Repeat(field, 41) + "X-Pad: " + strings.Repeat("h", 4096-41*98-len("X-Pad: \r\n\r\n")) + "\r\n\r\nbody\r\n"
		if i := strings.Index(bigHead, "\r\n\r\n"); i+4 != 4096 {
			t.Fatalf("header section of %d bytes", i+4)
		}
		bigHeadRelayed := "Received: from c by hub-a (umbra) with ESMTP id 1; now\r\n" + bigHead
		for _, bdat := range []bool{false, true} {
			send(authHub2, relayed, bdat, "250")
			send(authHub2, bigHeadRelayed, bdat, "250")
			send(authHub2, huge, bdat, "552 5.3.4")
			send("", relayed, bdat, "552 5.3.4")
			send(authAlice, relayed, bdat, "552 5.3.4")
			send("", bigHead, bdat, "250")
			send("", bigHeadRelayed, bdat, "552 5.3.4")
		}
		if next.count() != 6 {
			t.Errorf("spooled=%v: %d messages queued, want 6", spool, next.count())
		}
		for _, body := range next.bodies {
			// The organisation id is kept in the record, not the body.
			if !bytes.HasSuffix(body, first.bodies[0]) && !bytes.HasSuffix(body, []byte(bigHead)) {
				t.Errorf("spooled=%v: a stored body is not the message as relayed", spool)
			}
		}
	}
}
