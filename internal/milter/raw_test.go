package milter

import (
	"bufio"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// rawMilter serves one milter connection with handle, for protocol
// cases no well-behaved milter library produces.
func rawMilter(t *testing.T, handle func(r *bufio.Reader, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(bufio.NewReader(c), c)
			}()
		}
	}()
	return "inet:" + ln.Addr().String()
}

// optneg answers the negotiation with the given actions and steps.
func optneg(r *bufio.Reader, c net.Conn, actions, protocol uint32) bool {
	if p, err := readPacket(r); err != nil || p.code != cmdOptNeg {
		return false
	}
	d := binary.BigEndian.AppendUint32(nil, 6)
	d = binary.BigEndian.AppendUint32(d, actions)
	d = binary.BigEndian.AppendUint32(d, protocol)
	c.Write(appendPacket(nil, cmdOptNeg, d))
	return true
}

// untilEOB reads packets up to the end of message.
func untilEOB(r *bufio.Reader) bool {
	for {
		p, err := readPacket(r)
		if err != nil {
			return false
		}
		if p.code == cmdEOB {
			return true
		}
	}
}

const onlyEOM = protoNoConnect | protoNoHelo | protoNoMail | protoNoRcpt | protoNoData | protoNoHeaders | protoNoEOH | protoNoBody

// A modification whose action the milter did not negotiate is ignored;
// the negotiated ones apply.
func TestMilterIgnoresActionsNotNegotiated(t *testing.T) {
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, actAddHeaders|actChgFrom, onlyEOM) || !untilEOB(r) {
			return
		}
		var b []byte
		b = appendPacket(b, repChgHeader, append(binary.BigEndian.AppendUint32(nil, 1), "Subject\x00changed\x00"...))
		b = appendPacket(b, repChgFrom, []byte("<evil@sender.test>\x00"))
		b = appendPacket(b, repAddRcpt, []byte("<extra@example.test>\x00"))
		b = appendPacket(b, repAddHeader, []byte("X-Scanned\x00yes\x00"))
		b = appendPacket(b, repAccept, nil)
		c.Write(b)
		readPacket(r)
	})
	q := &fakeQueue{}
	d := dial(t, startMTA(t, q, milterConf(addr, "")))
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("end of data %q", got)
	}
	m, body := q.last(t)
	if !strings.Contains(body, "Subject: hello\r\n") || !strings.HasSuffix(body, "X-Old: two\r\nX-Scanned: yes\r\n\r\nbody line\r\n") {
		t.Fatalf("body %q", body)
	}
	if m.From != "a@sender.test" || len(m.Rcpts) != 1 {
		t.Fatalf("from %q rcpts %v", m.From, m.Rcpts)
	}
}

// A milter that breaks the protocol — a zero-length packet, a reply
// code of the wrong class, a header with a bad name, a huge length —
// gets the failure policy, never a crash.
func TestMilterProtocolErrors(t *testing.T) {
	for name, reply := range map[string][]byte{
		"zero length":         {0, 0, 0, 0},
		"huge length":         {0x7f, 0xff, 0xff, 0xff, 'c'},
		"reply code class":    appendPacket(nil, repReplyCode, []byte("550 4.7.1 mixed\x00")),
		"reply code 250":      appendPacket(nil, repReplyCode, []byte("250 ok\x00")),
		"bad header name":     append(appendPacket(nil, repAddHeader, []byte("Bad Name\x00v\x00")), appendPacket(nil, repAccept, nil)...),
		"header without NUL":  appendPacket(nil, repAddHeader, []byte("X-A\x00v")),
		"unknown reply":       appendPacket(nil, 'Z', nil),
		"skip at end of data": appendPacket(nil, repSkip, nil),
	} {
		t.Run(name, func(t *testing.T) {
			addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
				if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
					return
				}
				c.Write(reply)
				readPacket(r)
			})
			q := &fakeQueue{}
			d := dial(t, startMTA(t, q, milterConf(addr, "")))
			d.cmd("EHLO client.test", "250")
			if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") || q.count() != 0 {
				t.Fatalf("end of data %q, queued %d", got, q.count())
			}
			d.cmd("QUIT", "221")
		})
	}
}

// A milter asking for a protocol version umbra does not speak fails
// negotiation: the failure policy answers the greeting.
func TestMilterBadVersion(t *testing.T) {
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		readPacket(r)
		d := binary.BigEndian.AppendUint32(nil, 7)
		d = binary.BigEndian.AppendUint32(d, 0)
		d = binary.BigEndian.AppendUint32(d, 0)
		c.Write(appendPacket(nil, cmdOptNeg, d))
		readPacket(r)
	})
	d := dial(t, startMTA(t, &fakeQueue{}, milterConf(addr, "")))
	d.cmd("EHLO client.test", "451 4.7.1")
}

// Progress notes keep a slow milter's reply waited for, but not for
// ever: one that only ever says "progress" fails.
func TestMilterProgress(t *testing.T) {
	for _, endless := range []bool{false, true} {
		addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
			if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
				return
			}
			for i := 0; endless || i < 3; i++ {
				if _, err := c.Write(appendPacket(nil, repProgress, nil)); err != nil {
					return
				}
				if i > 1000 {
					return
				}
				time.Sleep(40 * time.Millisecond)
			}
			c.Write(appendPacket(appendPacket(nil, repAddHeader, []byte("X-Slow\x00done\x00")), repAccept, nil))
			readPacket(r)
		})
		q := &fakeQueue{}
		timeout := "2s" // room for a loaded machine: the notes come every 40 ms
		if endless {
			timeout = "100ms"
		}
		d := dial(t, startMTA(t, q, milterConf(addr, ", eom_timeout: "+timeout)))
		d.cmd("EHLO client.test", "250")
		got := d.send("a@sender.test", []string{"u@example.test"}, msg)
		switch {
		case !endless && (!strings.HasPrefix(got, "250") || q.count() != 1):
			t.Fatalf("progress then accept: %q, queued %d", got, q.count())
		case endless && (!strings.HasPrefix(got, "451 4.7.1") || q.count() != 0):
			t.Fatalf("endless progress: %q, queued %d", got, q.count())
		}
		if !endless {
			if _, body := q.last(t); !strings.Contains(body, "X-Slow: done\r\n") {
				t.Fatalf("body %q", body)
			}
		}
	}
}
