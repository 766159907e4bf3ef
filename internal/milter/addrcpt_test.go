package milter

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"testing"
)

// A recipient a milter adds passes the address rules a client's RCPT
// passes, the same way: a local part that needs its quotes ("a b") is
// kept quoted (rt29b F3), one holding an address ("x@ext.test") or
// not an address at all is refused (the addition dropped and logged,
// the message goes on, as the README promises for an addition refused
// for good), a bare <postmaster> is the configured postmaster, a source
// route is ignored and a quoted local part that needs no quotes is the
// unquoted mailbox. A deletion names the recipient as RCPT would.
func TestMilterAddedRecipientsFollowRCPTRules(t *testing.T) {
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
			return
		}
		var b []byte
		for _, a := range []string{`<"a b"@example.test>`, `<"x@ext.test"@example.test>`, `<not an address>`,
			`<postmaster>`, `<@relay.test,@b.test:route@example.test>`, `<"john.doe"@example.test>`, `<"gone"@example.test>`} {
			b = appendPacket(b, repAddRcpt, []byte(a+"\x00"))
		}
		b = appendPacket(b, repDelRcpt, []byte(`<"v"@example.test>`+"\x00"))
		b = appendPacket(b, repAccept, nil)
		c.Write(b)
		readPacket(r)
	})
	q := &fakeQueue{}
	d := dial(t, startMTA(t, q, milterConf(addr, "")))
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test", "v@example.test"}, msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("end of data %q", got)
	}
	m, _ := q.last(t)
	var got []string
	for _, r := range m.Rcpts {
		got = append(got, r.Addr)
	}
	want := []string{"u@example.test", `"a b"@example.test`, "admin@example.test", "route@example.test", "john.doe@example.test", "gone@example.test"}
	if !slices.Equal(got, want) {
		t.Fatalf("recipients %q, want %q", got, want)
	}
}

// A replacement body with a NUL octet (a client's would get 554 5.6.0)
// is a milter failure, not a message that next hops would refuse.
func TestMilterReplacedBodyWithNUL(t *testing.T) {
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
			return
		}
		b := appendPacket(nil, repReplBody, []byte("new\x00body\r\n"))
		b = appendPacket(b, repAccept, nil)
		c.Write(b)
		readPacket(r)
	})
	q := &fakeQueue{}
	d := dial(t, startMTA(t, q, milterConf(addr, "")))
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") || q.count() != 0 {
		t.Fatalf("end of data %q, queued %d", got, q.count())
	}
}

// A replacement body with a line over the connector's max_line_length
// (a client's would get 554 5.6.0) is a milter failure too.
func TestMilterReplacedBodyLineTooLong(t *testing.T) {
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
			return
		}
		b := appendPacket(nil, repReplBody, []byte("short\r\n"+strings.Repeat("x", 3000)+"\r\n"))
		b = appendPacket(b, repAccept, nil)
		c.Write(b)
		readPacket(r)
	})
	q := &fakeQueue{}
	d := dial(t, startMTA(t, q, milterConf(addr, "")))
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") || q.count() != 0 {
		t.Fatalf("end of data %q, queued %d", got, q.count())
	}
}

// rt19 F5, F6: a milter's edits may not bring in what a client could not
// send: a header section over max_header_size (here 64 KiB; 30 headers of
// 900 kB were accepted and relayed before), a header line over
// max_line_length, or a replaced body whose last line, unterminated, is
// over it once relayed with its CRLF. Each is a milter failure
// (on_failure: tempfail here).
func TestMilterEditsBoundedLikeAClient(t *testing.T) {
	for name, edits := range map[string][]byte{
		"header section over max_header_size": func() []byte {
			var b []byte
			for i := 0; i < 40; i++ { // 40 folded fields of ~1.9 KB: 76 KB of header section
				b = appendPacket(b, repAddHeader, []byte("X-Big\x00"+strings.Repeat(strings.Repeat("y", 900)+"\n ", 2)+"\x00"))
			}
			return b
		}(),
		"header line over max_line_length": appendPacket(nil, repAddHeader, []byte("X-Long\x00"+strings.Repeat("z", 5000)+"\x00")),
		"unterminated last body line":      appendPacket(nil, repReplBody, []byte("x\r\n"+strings.Repeat("a", 2000))),
	} {
		t.Run(name, func(t *testing.T) {
			addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
				if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
					return
				}
				c.Write(appendPacket(edits, repAccept, nil))
				readPacket(r)
			})
			q := &fakeQueue{}
			d := dial(t, startMTA(t, q, milterConf(addr, "")))
			d.cmd("EHLO client.test", "250")
			if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") || q.count() != 0 {
				t.Fatalf("end of data %q, queued %d", got, q.count())
			}
		})
	}
}

// rt39 F1: a replacement body that makes the message larger than the
// connector's max_message_size (a client's would get 552 5.3.4) is a
// milter failure (on_failure: tempfail here), found while the chunks
// arrive: before, a 50 MB replacement was accepted over a 36 MiB limit.
// The milter sends chunks past the limit; umbra stops reading them.
func TestMilterReplacedBodyOverMaxMessageSize(t *testing.T) {
	for name, chunks := range map[string]int{"far over": 40, "just over": 3} {
		t.Run(name, func(t *testing.T) {
			addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
				if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
					return
				}
				line := strings.Repeat("x", 900) + "\r\n"
				chunk := []byte(strings.Repeat(line, 50)) // 45,100 octets
				for i := 0; i < chunks; i++ {
					if _, err := c.Write(appendPacket(nil, repReplBody, chunk)); err != nil {
						return
					}
				}
				c.Write(appendPacket(nil, repAccept, nil))
				readPacket(r)
			})
			q := &fakeQueue{}
			conf := milterConf(addr, "") + "    limits: {max_message_size: 100KiB}\n"
			d := dial(t, startMTA(t, q, conf))
			d.cmd("EHLO client.test", "250")
			if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") || q.count() != 0 {
				t.Fatalf("end of data %q, queued %d", got, q.count())
			}
		})
	}
}

// A replacement within max_message_size is applied.
func TestMilterReplacedBodyUnderMaxMessageSize(t *testing.T) {
	line := strings.Repeat("x", 900) + "\r\n"
	chunk := []byte(strings.Repeat(line, 50))
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
			return
		}
		b := appendPacket(nil, repReplBody, chunk)
		b = appendPacket(b, repReplBody, chunk)
		c.Write(appendPacket(b, repAccept, nil))
		readPacket(r)
	})
	q := &fakeQueue{}
	conf := milterConf(addr, "") + "    limits: {max_message_size: 100KiB}\n"
	d := dial(t, startMTA(t, q, conf))
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") || q.count() != 1 {
		t.Fatalf("end of data %q, queued %d", got, q.count())
	}
	if _, body := q.last(t); !strings.HasSuffix(body, "\r\n\r\n"+string(chunk)+string(chunk)) {
		t.Fatalf("body not replaced (%d octets)", len(body))
	}
}

// A milter names a recipient of an internationalised domain in either
// form, in any case: deleting anna@BÜCHER.example deletes the client's
// anna@xn--bcher-kva.example, and adding it back in the other form then
// deleting it leaves nothing behind (mailaddr.AddrKey, as RCPT
// compares).
func TestMilterRecipientIDNFormsAreOne(t *testing.T) {
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
			return
		}
		var b []byte
		b = appendPacket(b, repDelRcpt, []byte("<anna@BÜCHER.example>\x00"))
		b = appendPacket(b, repAddRcpt, []byte("<bob@XN--BCHER-KVA.example>\x00"))
		b = appendPacket(b, repDelRcpt, []byte("<bob@bücher.example>\x00"))
		b = appendPacket(b, repAccept, nil)
		c.Write(b)
		readPacket(r)
	})
	q := &fakeQueue{}
	d := dial(t, startMTA(t, q, milterConf(addr, "")))
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test", "anna@xn--bcher-kva.example"}, msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("end of data %q", got)
	}
	m, _ := q.last(t)
	var got []string
	for _, r := range m.Rcpts {
		got = append(got, r.Addr)
	}
	if want := []string{"u@example.test"}; !slices.Equal(got, want) {
		t.Fatalf("recipients %q, want %q", got, want)
	}
}
