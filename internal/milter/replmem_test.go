package milter

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// A milter's replacement body is held in memory like a received body:
// within transport.body_memory_limit, shared with every session's
// bodies. A replacement the budget cannot cover is not held: the
// message gets 452 4.3.1 (as a received body the server could not
// keep), nothing is queued, the milter's connection stays in step for
// the next message, and every byte reserved is given back when the
// transaction ends. Before, a replacement of up to max_message_size was
// held outside the budget: sessions × max_message_size.
func TestMilterReplacedBodyWithinBodyMemory(t *testing.T) {
	line := strings.Repeat("x", 900) + "\r\n"
	chunk := []byte(strings.Repeat(line, 50)) // 45,100 octets
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) {
			return
		}
		for n := 1; ; n++ { // message n: n chunks
			if !untilEOB(r) {
				return
			}
			var b []byte
			for i := 0; i < n; i++ {
				b = appendPacket(b, repReplBody, chunk)
			}
			if _, err := c.Write(appendPacket(b, repAccept, nil)); err != nil {
				return
			}
		}
	})
	q := &fakeQueue{}
	conf := milterConf(addr, "") + "    limits: {max_message_size: 1MiB}\n"
	s := startMTAMem(t, q, conf, nil, 0, 80<<10) // room for one chunk, not two
	d := dial(t, s)
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") || q.count() != 1 {
		t.Fatalf("replacement within the budget: %q, queued %d", got, q.count())
	}
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "452 4.3.1") || q.count() != 1 {
		t.Fatalf("replacement over the budget: %q, queued %d; want 452 4.3.1 and nothing queued", got, q.count())
	}
	d.cmd("QUIT", "221")
	for i := 0; i < 100; i++ { // the session's end gives back what it held
		if used, _, _, _ := s.BodyMemory(); used == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	used, _, _, _ := s.BodyMemory()
	t.Fatalf("%d bytes of the body budget still held after the session", used)
}

// umbra_smtp_body_memory_refused_total counts bodies answered 452 4.3.1
// for the budget, and only those: a replacement that ran past the budget
// and then past max_message_size gets the milter failure's reply (451
// 4.7.1), which is not counted.
func TestMilterBodyMemoryRefusedCountsOnly452(t *testing.T) {
	line := strings.Repeat("x", 900) + "\r\n"
	chunk := []byte(strings.Repeat(line, 50)) // 45,100 octets
	var chunks = 2
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) {
			return
		}
		for n := 0; ; n++ {
			if !untilEOB(r) {
				return
			}
			var b []byte
			for i := 0; i < chunks+n; i++ { // 2 chunks, then 3
				b = appendPacket(b, repReplBody, chunk)
			}
			if _, err := c.Write(appendPacket(b, repAccept, nil)); err != nil {
				return
			}
		}
	})
	q := &fakeQueue{}
	conf := milterConf(addr, "") + "    limits: {max_message_size: 120KiB}\n"
	s := startMTAMem(t, q, conf, nil, 0, 80<<10) // room for one chunk, not two
	d := dial(t, s)
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "452 4.3.1") {
		t.Fatalf("replacement over the budget: %q, want 452 4.3.1", got)
	}
	if _, _, _, refused := s.BodyMemory(); refused != 1 {
		t.Fatalf("one body answered 452 4.3.1: refused counted %d", refused)
	}
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); strings.HasPrefix(got, "452") || !strings.HasPrefix(got, "4") {
		t.Fatalf("replacement over the budget, then over max_message_size: %q, want the milter failure's 4xx", got)
	}
	if _, _, _, refused := s.BodyMemory(); refused != 1 {
		t.Fatalf("a body answered other than 452 4.3.1 counted as refused for the budget: %d", refused)
	}
	d.cmd("QUIT", "221")
}
