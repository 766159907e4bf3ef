package milter

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// OPS-4 (front48 item 2): a milter's replacement body over the body
// budget is a refusal of the message (452 4.3.1) and is logged as every
// refusal is, once, on the session's rate-limited refusal line (smtp's
// "refused by check" with body="over the in-memory body budget") —
// never a WARN line of the milter's own per message, which any client
// whose messages a milter rewrites could multiply without bound.
func TestMilterReplacementOverBudgetWritesNoWarnPerMessage(t *testing.T) {
	line := strings.Repeat("x", 900) + "\r\n"
	chunk := []byte(strings.Repeat(line, 50)) // 45,100 octets
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) {
			return
		}
		for {
			if !untilEOB(r) {
				return
			}
			b := appendPacket(appendPacket(nil, repReplBody, chunk), repReplBody, chunk)
			if _, err := c.Write(appendPacket(b, repAccept, nil)); err != nil {
				return
			}
		}
	})
	var logs syncBuffer
	q := &fakeQueue{}
	conf := milterConf(addr, "") + "    limits: {max_message_size: 1MiB}\n"
	s := startMTAObserved(t, q, conf, nil, 0, 80<<10, slog.New(slog.NewTextHandler(&logs, nil)), nil) // room for one chunk, not two
	d := dial(t, s)
	d.cmd("EHLO client.test", "250")
	for i := 0; i < 5; i++ {
		if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "452 4.3.1") {
			t.Fatalf("message %d: %q, want 452 4.3.1", i, got)
		}
	}
	d.cmd("QUIT", "221")
	out := logs.String()
	if strings.Contains(out, "level=WARN") {
		t.Fatalf("the milter logged WARN lines of its own for refused messages:\n%s", out)
	}
	// The refusal line names the message it refused (words49 item 3).
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `msg="refused by check"`) && !strings.Contains(l, "msg_id=") {
			t.Errorf("a refusal line without the message's id: %s", l)
		}
	}
	if !strings.Contains(out, `msg="refused by check"`) {
		t.Errorf("no refusal line:\n%s", out)
	}
}
