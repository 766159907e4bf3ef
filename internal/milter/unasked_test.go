package milter

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A reply where none may come — a second answer to MAIL, an answer to a
// macro packet, an answer to an event negotiated as taking none — is a
// failure of the milter (on_failure), never read as the answer to the
// next event: otherwise every later reply is one event late, and the
// end of message takes a stale "continue" for the verdict while the
// milter's real one (554 here) is never read (rt57 M3). The extra reply
// is written together with a due one, so it has arrived before umbra's
// next event whatever the scheduling.
func TestMilterReplyWhereNoneMayCome(t *testing.T) {
	cont := appendPacket(nil, repContinue, nil)
	verdict := appendPacket(nil, repReplyCode, []byte("554 5.7.1 virus found\x00"))
	for _, tc := range []struct {
		name     string
		protocol uint32
		extra    func(code byte) bool // an extra continue goes with the reply to this packet
		noReply  byte                 // this event takes no reply; it gets one with the next reply
	}{
		{name: "second reply to MAIL", extra: func(code byte) bool { return code == cmdMail }},
		{name: "reply to macros", extra: func(code byte) bool { return code == cmdRcpt }}, // the RCPT macros' answer
		{name: "reply to a no-reply header", protocol: protoNRHeader, noReply: cmdHeader},
		{name: "reply to a no-reply end of headers", protocol: protoNREOH, noReply: cmdEOH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
				if !optneg(r, c, offeredActions, tc.protocol) {
					return
				}
				owed := 0
				for {
					p, err := readPacket(r)
					if err != nil {
						return
					}
					switch p.code {
					case cmdMacro, cmdAbort, cmdQuit:
						continue
					case tc.noReply:
						owed++
						continue
					}
					var b []byte
					for ; owed > 0; owed-- {
						b = append(b, cont...)
					}
					if tc.extra != nil && tc.extra(p.code) {
						b = append(b, cont...)
					}
					if p.code == cmdEOB {
						b = append(b, verdict...)
					} else {
						b = append(b, cont...)
					}
					c.Write(b)
				}
			})
			q := &fakeQueue{}
			d := dial(t, startMTA(t, q, milterConf(addr, "")))
			d.cmd("EHLO client.test", "250")
			d.cmd("MAIL FROM:<a@sender.test>", "250")
			// The failure may answer RCPT, DATA or the end of data.
			reply := ""
			if _, err := d.conn.Write([]byte("RCPT TO:<u@example.test>\r\n")); err != nil {
				t.Fatal(err)
			}
			if reply = d.reply(); strings.HasPrefix(reply, "250") {
				d.conn.Write([]byte("DATA\r\n"))
				if reply = d.reply(); strings.HasPrefix(reply, "354") {
					d.conn.Write([]byte(msg + ".\r\n"))
					reply = d.reply()
				}
			}
			if !strings.HasPrefix(reply, "451 4.7.1") || q.count() != 0 {
				t.Fatalf("got %q (queued %d), want the failure policy's 451 4.7.1", reply, q.count())
			}
		})
	}
}

// pendingInput sees bytes waiting on the socket without taking them,
// and does not block when there are none.
func TestPendingInput(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if pendingInput(c) {
		t.Fatal("input pending on a silent connection")
	}
	p.Write([]byte("c"))
	var b [1]byte
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; !pendingInput(c); i++ { // the byte is on its way over loopback
		if i == 1000 {
			t.Fatal("the byte sent was never seen pending")
		}
		time.Sleep(time.Millisecond)
	}
	if n, err := c.Read(b[:]); n != 1 || b[0] != 'c' || err != nil {
		t.Fatalf("read %d %q %v after the peek: the peek took the byte", n, b[:n], err)
	}
	if pendingInput(c) {
		t.Fatal("input pending after it was read")
	}
}

// syncBuffer is a log destination safe for the session's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A second reply to the end of message that arrives after the verdict
// was read and checked (rt17a F6): the message was answered by the
// verdict read in step, and the client ends the session, so there is no
// next event to catch it at. It is read at the message's connection's
// end — a protocol failure of the milter with no message to apply
// on_failure to — logged with the message's verdict on the front door's
// rate-limited refusal log (reason milter_protocol, the message's id:
// words49 item 3; a WARN line per message before) and counted
// (umbra_milter_failures_total, stage quit, reason protocol), not a
// DEBUG line only.
//
// The stray reply is written when umbra's QUIT arrives after the
// verdict — umbra has looked for more by then, and reads the rest before
// it closes — not 200 ms after the verdict, which a loaded machine could
// reach before umbra looked (or after its quit gave up).
func TestMilterReplyAfterLastVerdict(t *testing.T) {
	cont := appendPacket(nil, repContinue, nil)
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, 0) {
			return
		}
		verdict := false
		for {
			p, err := readPacket(r)
			if err != nil {
				return
			}
			switch {
			case p.code == cmdQuit && verdict:
				c.Write(cont) // after umbra looked for more: only its quit reads it
				verdict = false
				continue
			case p.code == cmdMacro, p.code == cmdAbort, p.code == cmdQuit:
				continue
			}
			c.Write(cont)
			verdict = p.code == cmdEOB
		}
	})
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	q := &fakeQueue{}
	d := dial(t, startMTAObserved(t, q, milterConf(addr, ""), nil, 0, 0, slog.New(slog.NewTextHandler(&logs, nil)), reg))
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd(msg+".", "250")
	d.cmd("QUIT", "221")
	failures := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "umbra_milter_failures_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["stage"] == "quit" && labels["reason"] == "protocol" {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	for i := 0; failures() == 0 && i < 100; i++ { // the session closes after the reply
		time.Sleep(20 * time.Millisecond)
	}
	told := false
	for _, l := range strings.Split(logs.String(), "\n") {
		told = told || strings.Contains(l, "none may come") && strings.Contains(l, "reason=milter_protocol") && strings.Contains(l, "msg_id=")
	}
	if failures() != 1 || !told {
		t.Fatalf("failures %v, log:\n%s\nwant one protocol failure at quit, logged with the message's id", failures(), logs.String())
	}
	if q.count() != 1 {
		t.Fatalf("queued %d, want the message the verdict accepted", q.count())
	}
}
