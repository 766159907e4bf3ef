package milter

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// OPS-4, EDGE (words49 item 3): a milter's failure is noted on the
// front door's rate-limited refusal log (smtp Verdict.Noted), with the
// message's id where there is one — never a WARN line per message,
// which any client could multiply without bound while the milter is
// broken: fifteen sessions whose milter drops the connection at the end
// of their message write the bucket's ten lines and a summary of the
// five suppressed. Seen to fail first: fifteen WARN "milter failed"
// lines, none naming the message.
func TestMilterFailureNotedThroughRefusalLog(t *testing.T) {
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) {
			return
		}
		untilEOB(r) // then the connection drops: no reply to the end of the message
	})
	var logs syncBuffer
	s := startMTAObserved(t, &fakeQueue{}, milterConf(addr, ""), nil, 0, 0, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	for range 15 {
		d := dial(t, s)
		d.cmd("EHLO client.test", "250")
		if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") {
			t.Fatalf("end of data: %q, want on_failure's 451 4.7.1", got)
		}
		d.cmd("QUIT", "221")
	}
	s.Shutdown(t.Context())
	out := logs.String()
	var failed int
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, `msg="milter failed"`) {
			continue
		}
		failed++
		if strings.Contains(l, "level=WARN") || !strings.Contains(l, "reason=milter_io") || !strings.Contains(l, "milter_stage=eom") ||
			!strings.Contains(l, "msg_id=") || !strings.Contains(l, "on_failure=tempfail") {
			t.Errorf("failure line: %s\nwant INFO, reason=milter_io, milter_stage=eom, msg_id and on_failure", l)
		}
	}
	if failed != 10 {
		t.Errorf("%d \"milter failed\" lines, want the refusal log's 10:\n%s", failed, out)
	}
	if !strings.Contains(out, `msg="log lines suppressed"`) || !strings.Contains(out, "reason=milter_io") {
		t.Errorf("no summary of the lines suppressed:\n%s", out)
	}
}

// OPS-4 (words49 item 3, a sibling): a modification the milter did not
// negotiate is ignored and noted on the refusal log with the message's
// id, once per action and message — not an INFO line of the milter's
// own per modification, unbounded (up to maxModifications a message).
// Seen to fail first: 15 messages of 3 such additions wrote 45 lines
// without the message's id.
func TestMilterUnnegotiatedModificationNotedThroughRefusalLog(t *testing.T) {
	add := appendPacket(nil, repAddHeader, appendCString(appendCString(nil, "X-Added"), "v"))
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, actChgBody, onlyEOM) { // no actAddHeaders
			return
		}
		if !untilEOB(r) {
			return
		}
		b := append(append(append([]byte(nil), add...), add...), add...)
		c.Write(appendPacket(b, repAccept, nil))
		untilEOB(r)
	})
	var logs syncBuffer
	s := startMTAObserved(t, &fakeQueue{}, milterConf(addr, ""), nil, 0, 0, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	for range 15 {
		d := dial(t, s)
		d.cmd("EHLO client.test", "250")
		if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") {
			t.Fatalf("end of data: %q, want the message taken", got)
		}
		d.cmd("QUIT", "221")
	}
	s.Shutdown(t.Context())
	out := logs.String()
	var noted int
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "not negotiated") {
			continue
		}
		noted++
		if !strings.Contains(l, "reason=milter_unnegotiated") || !strings.Contains(l, "msg_id=") || !strings.Contains(l, "action=") {
			t.Errorf("line: %s\nwant reason=milter_unnegotiated, the action and msg_id", l)
		}
	}
	if noted != 10 {
		t.Errorf("%d lines of modifications not negotiated, want the refusal log's 10:\n%s", noted, out)
	}
}
