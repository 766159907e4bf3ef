package milter

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A milter's replacement body is held in memory like a received body:
// within transport.body_memory_limit, shared with every session's
// bodies. A replacement the budget cannot cover is not held: the
// message gets 452 4.3.1 (as a received body the server could not
// keep), nothing is queued, the milter's connection stays in step (its
// verdict read, then QUIT), and every byte reserved is given back when the
// transaction ends. Before, a replacement of up to max_message_size was
// held outside the budget: sessions × max_message_size.
func TestMilterReplacedBodyWithinBodyMemory(t *testing.T) {
	line := strings.Repeat("x", 900) + "\r\n"
	chunk := []byte(strings.Repeat(line, 50)) // 45,100 octets
	var msgs atomic.Int32                     // each message has its own connection
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) {
			return
		}
		for { // message n: n chunks
			if !untilEOB(r) {
				return
			}
			n := int(msgs.Add(1))
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
	var msgs atomic.Int32 // each message has its own connection
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) {
			return
		}
		for {
			if !untilEOB(r) {
				return
			}
			n := int(msgs.Add(1)) - 1
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

// A milter's replacement body past the spool threshold goes to a spool
// file as it arrives, as a received body does, so the bytes a session
// holds for it stay within the threshold, not the replacement's size:
// here a 1 MiB replacement is accepted under a body budget of 80 KiB
// (the budget counts what the session holds; before, the replacement
// was held whole and got 452 4.3.1), lands in the queue spooled and
// exactly as the in-memory path would store it (line ends made CRLF,
// a CR at the end of one chunk and its LF at the start of the next kept
// one line end). A replacement the milter then refuses leaves no spool
// file behind, and the session's reservation is given back.
func TestMilterReplacedBodySpooledPastThreshold(t *testing.T) {
	line := strings.Repeat("y", 898) + "\n" // bare LF: made CRLF
	chunk := []byte(strings.Repeat(line, 50))
	chunk = append(chunk[:len(chunk)-1], '\r') // this chunk's last line ends with a CR, the next chunk's first byte is its LF
	const chunks = 24                          // 24 × 44,950 octets: about 1 MiB
	var want strings.Builder
	for i := 0; i < chunks; i++ {
		b := chunk
		if i > 0 {
			b = append([]byte("\n"), chunk...)
		}
		want.Write(b)
	}
	wantBody := string(crlf([]byte(want.String())))
	var refuse atomic.Bool
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) {
			return
		}
		for {
			if !untilEOB(r) {
				return
			}
			var b []byte
			for i := 0; i < chunks; i++ {
				p := chunk
				if i > 0 {
					p = append([]byte("\n"), chunk...)
				}
				b = appendPacket(b, repReplBody, p)
			}
			final := byte(repAccept)
			if refuse.Load() {
				final = repTempfail
			}
			if _, err := c.Write(appendPacket(b, final, nil)); err != nil {
				return
			}
		}
	})
	dir := t.TempDir()
	st, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := &fakeQueue{}
	conf := milterConf(addr, "") + "    limits: {max_message_size: 4MiB}\n"
	s := startMTAMem(t, q, conf, st, 32<<10, 80<<10) // spool past 32 KiB; a budget for one chunk, not the replacement
	d := dial(t, s)
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") || q.count() != 1 {
		t.Fatalf("a 1 MiB replacement under an 80 KiB body budget: %q, queued %d; want it spooled and accepted", got, q.count())
	}
	_, body := q.last(t)
	if !q.spooled[0] {
		t.Fatal("the replaced body was stored in memory, not in a spool file")
	}
	i := strings.Index(body, "\r\n\r\n")
	if i < 0 || body[i+4:] != wantBody {
		t.Fatalf("stored body of %d octets differs from the replacement made CRLF (%d octets)", len(body)-i-4, len(wantBody))
	}
	files := func() int {
		ents, err := os.ReadDir(filepath.Join(dir, "spool"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	if n := files(); n != 1 {
		t.Fatalf("%d spool files after one spooled replacement, want 1 (the queued one)", n)
	}
	// A message spooled on receipt: its file goes, the replacement's is
	// queued.
	big := "From: a@sender.test\r\nSubject: big\r\n\r\n" + strings.Repeat("a received line\r\n", 8000)
	if got := d.send("a@sender.test", []string{"u@example.test"}, big); !strings.HasPrefix(got, "250") || q.count() != 2 {
		t.Fatalf("a spooled message with a spooled replacement: %q, queued %d", got, q.count())
	}
	_, body = q.last(t)
	if i := strings.Index(body, "\r\n\r\n"); !q.spooled[1] || i < 0 || body[i+4:] != wantBody || !strings.Contains(body[:i], "Subject: big") {
		t.Fatalf("a spooled message's replaced body: spooled %v, stored %d octets", q.spooled[1], len(body))
	}
	if n := files(); n != 2 {
		t.Fatalf("%d spool files after two spooled replacements, want 2 (the queued ones): the received body's was left behind", n)
	}
	refuse.Store(true)
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451") || q.count() != 2 {
		t.Fatalf("a replacement the milter then tempfails: %q, queued %d", got, q.count())
	}
	if n := files(); n != 2 {
		t.Fatalf("%d spool files after a refused replacement, want 2: its file was left behind", n)
	}
	d.cmd("QUIT", "221")
	for i := 0; i < 100; i++ {
		if used, _, _, _ := s.BodyMemory(); used == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	used, _, _, _ := s.BodyMemory()
	t.Fatalf("%d bytes of the body budget still held after the session", used)
}

// A spooled replacement is bounded as one in memory: a line over
// max_line_length (the unterminated last one counted with its CRLF) or a
// message over max_message_size once its line ends are CRLF is a milter
// failure (on_failure tempfail: 451 4.7.1), nothing is queued, and the
// replacement's spool file is removed.
func TestMilterSpooledReplacementBoundedLikeInMemory(t *testing.T) {
	lines := []byte(strings.Repeat(strings.Repeat("z", 900)+"\n", 60)) // 54,060 octets, 54,120 once CRLF
	for name, tc := range map[string]struct {
		chunks [][]byte
		limits string
	}{
		"line over max_line_length": {[][]byte{lines, []byte(strings.Repeat("a", 1999))}, "{max_message_size: 4MiB}"},
		// Within the bound as sent, over it once LF is CRLF (found when
		// the replacement ends, as for one in memory).
		"over max_message_size with CRLF": {[][]byte{lines}, "{max_message_size: 54100}"},
	} {
		t.Run(name, func(t *testing.T) {
			addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
				if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
					return
				}
				var b []byte
				for _, p := range tc.chunks {
					b = appendPacket(b, repReplBody, p)
				}
				c.Write(appendPacket(b, repAccept, nil))
				readPacket(r)
			})
			dir := t.TempDir()
			st, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{UnsafeNoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			q := &fakeQueue{}
			s := startMTASpool(t, q, milterConf(addr, "")+"    limits: "+tc.limits+"\n", st, 16<<10)
			d := dial(t, s)
			d.cmd("EHLO client.test", "250")
			if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") || q.count() != 0 {
				t.Fatalf("end of data %q, queued %d", got, q.count())
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, "spool")); len(ents) != 0 {
				t.Fatalf("%d spool files left behind by a refused replacement", len(ents))
			}
		})
	}
}
