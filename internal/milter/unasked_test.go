package milter

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
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
