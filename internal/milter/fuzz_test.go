package milter

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzParseReply: any packet a milter sends parses or is refused as a
// protocol error, never panics; a reply code that parses is 4xx or 5xx
// with an enhanced code of its class and a single-line-per-line text; a
// plain action that parses carried no data.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"y550 5.7.1 Gtube pattern\x00", "y554-5.7.1 a\r\n554 5.7.1 b%%\x00", "y451 try later\x00",
		"y250 ok\x00", "y550 4.7.1 x\x00", "hX-A\x00v\x00", "m\x00\x00\x00\x01Subject\x00\x00", "i\x00\x00\x00\x00X\x00y\x00",
		"+<a@b.test>\x00", "-<a@b.test>\x00", "qreason\x00", "bbody", "c", "Z", "2<a@b>\x00NOTIFY=NEVER\x00", "y5\x00", "ax", "t\x00", "p"} {
		f.Add(s[0], []byte(s[1:]))
	}
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		r, err := parseReply(packet{code: code, data: data})
		if err != nil {
			return
		}
		switch code {
		case repAccept, repContinue, repDiscard, repReject, repTempfail, repSkip, repProgress:
			if len(data) != 0 {
				t.Fatalf("plain reply %q with data %q taken", code, data)
			}
		}
		if r.code == repReplyCode {
			e := r.smtp
			if e == nil || e.Code < 400 || e.Code > 599 || e.EnhancedCode[0] != e.Code/100 {
				t.Fatalf("reply %+v from %q", e, data)
			}
			if strings.ContainsAny(e.Message, "\r\x00") {
				t.Fatalf("reply text %q", e.Message)
			}
		}
	})
}

// FuzzParseOptNeg: a negotiation reply never panics, and what it
// settles never exceeds what umbra offered.
func FuzzParseOptNeg(f *testing.F) {
	d := binary.BigEndian.AppendUint32(nil, 6)
	d = binary.BigEndian.AppendUint32(d, 0x1ff)
	d = binary.BigEndian.AppendUint32(d, 0x1fffff)
	f.Add(d)
	f.Add(append(append([]byte(nil), d...), 0, 0, 0, 2, 'i', ' ', '{', 'a', '}', 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseOptNeg(packet{code: cmdOptNeg, data: data})
		if err != nil {
			return
		}
		if n.actions&^offeredActions != 0 || n.protocol&^offeredProtocol != 0 || n.version < 2 || n.version > 6 {
			t.Fatalf("negotiated %+v", n)
		}
	})
}

// FuzzHeaderEdits: splitting a message and joining it gives it back;
// after any header edits and a body replacement, the message still has
// exactly the fields the edits made (a value can neither end the header
// section nor start a field), with CRLF line ends only.
func FuzzHeaderEdits(f *testing.F) {
	f.Add([]byte("From: a\r\nSubject: x\r\n\r\nbody\r\n"), []byte("X-A"), []byte("v\nw\r\n\r\nX: y"), uint8(1), uint32(1), []byte("new\nbody"))
	f.Add([]byte(" starts with space\r\n"), []byte("X-A"), []byte("v"), uint8(0), uint32(0), []byte(""))
	f.Add([]byte("Subject: no crlf"), []byte("Subject"), []byte(""), uint8(2), uint32(0), []byte("\r"))
	f.Fuzz(func(t *testing.T, content, name, value []byte, op uint8, index uint32, body []byte) {
		m := parseMessage(content)
		if got := m.bytes(); !bytes.Equal(got, content) {
			t.Fatalf("split and joined %q into %q", content, got)
		}
		// umbra hands checks no bare CR or LF (refused or normalized at
		// receipt); the edits must not make any.
		if bareEnd(content) || !validName(string(name)) || bytes.IndexByte(value, 0) >= 0 {
			return
		}
		switch op % 4 {
		case 0:
			m.addHeader(string(name), string(value))
		case 1:
			m.insertHeader(index, string(name), string(value))
		case 2:
			m.changeHeader(index, string(name), string(value))
		case 3:
			m.replaceBody(body)
		}
		want := make([]string, len(m.fields))
		for i, f := range m.fields {
			want[i] = f.name
		}
		out := m.bytes()
		again := parseMessage(out)
		got := make([]string, len(again.fields))
		for i, f := range again.fields {
			got[i] = f.name
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("fields %q after the edit, %q after reading it back from %q", want, got, out)
		}
		if bareEnd(out) {
			t.Fatalf("bare CR or LF in the edited message %q", out)
		}
	})
}

func bareEnd(b []byte) bool {
	b = bytes.ReplaceAll(b, []byte("\r\n"), nil)
	return bytes.ContainsAny(b, "\r\n")
}

// FuzzReadPacket: a milter's stream (any bytes) reads as packets, each
// exactly as appendPacket writes it, until an error; a packet never
// claims more than maxPacket, and each reply in it parses or is refused.
func FuzzReadPacket(f *testing.F) {
	var s []byte
	s = appendPacket(s, cmdOptNeg, []byte{0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff})
	s = appendPacket(s, 'h', []byte("X-A\x00v\x00"))
	s = appendPacket(s, 'y', []byte("550 5.7.1 no\x00"))
	s = appendPacket(s, 'c', nil)
	f.Add(s)
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'c'})
	f.Add([]byte{0, 0x10, 0, 0x40, 'b'})
	f.Add([]byte{0, 0, 0, 5, 'y', '5'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			before := len(b) - r.Len()
			p, err := readPacket(r)
			if err != nil {
				return
			}
			if len(p.data)+1 > maxPacket {
				t.Fatalf("packet of %d octets", len(p.data)+1)
			}
			if got, want := appendPacket(nil, p.code, p.data), b[before:len(b)-r.Len()]; !bytes.Equal(got, want) {
				t.Fatalf("packet %q re-encodes as %q", want, got)
			}
			parseReply(p)
			parseOptNeg(p)
			if ss, err := cstrings(p.data); err == nil && len(ss) == 0 {
				t.Fatalf("cstrings(%q) gave no string", p.data)
			}
		}
	})
}

// A replacement body written to a spool file in chunks (crlfWriter) is
// byte for byte what the in-memory path makes of the chunks joined
// (crlf), and its longest line is longestLine's, wherever the chunks
// split it (a CR at the end of one and an LF at the start of the next
// above all).
func FuzzCRLFWriter(f *testing.F) {
	f.Add([]byte("a\r\nb\nc\rd\r"), uint8(3))
	f.Add([]byte("\r\n\r\n"), uint8(1))
	f.Add([]byte("line\r"), uint8(5))
	f.Add([]byte("x\n\ny\r\r\nz"), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, step uint8) {
		n := int(step%16) + 1
		var out bytes.Buffer
		w := newCRLFWriter(&out)
		for p := body; len(p) > 0; {
			k := min(n, len(p))
			if err := w.write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		want := crlf(bytes.Clone(body))
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("written %q, in memory %q", out.Bytes(), want)
		}
		if w.n != int64(len(want)) {
			t.Fatalf("counted %d octets, wrote %d", w.n, len(want))
		}
		if got, want := int(w.longest), longestLine(want); got != want {
			t.Fatalf("longest line %d, in memory %d (%q)", got, want, body)
		}
	})
}
