package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"
)

// firstEightBit is the index of the first byte above 127 in b, or -1.
func firstEightBit(b []byte) int {
	return bytes.IndexFunc(b, func(r rune) bool { return r >= 0x80 })
}

// A DSN to a sender whose address is ASCII is 7-bit whatever the
// original held (it must reach the sender over any hop that carries
// 7-bit mail, such as the one the original failed on): 8-bit content
// comes back as its headers only, non-ASCII unstructured fields are
// RFC 2047-encoded, fields that cannot be encoded are left out and
// named, and non-ASCII recipient addresses are written as utf-8
// xtext (RFC 6533 §3). Failure and delay DSNs alike.
func TestDSNOfEightBitMessageIsSevenBit(t *testing.T) {
	utf8Head := "From: =?utf-8?q?x?= <a@example.org>\r\nTo: J\xc3\xbcrgen <j\xc3\xbcrgen@example.net>\r\n" +
		"Subject: caf\xc3\xa9 cr\xc3\xa8me\r\n br\xc3\xbbl\xc3\xa9e\r\nX-Note: \xff\xfe raw\r\nMessage-ID: <1@example.org>\r\n"
	for _, tc := range []struct {
		name      string
		kind      Notify
		m         Message
		body      string
		want      []string // substrings of the DSN
		avoid     []string
		wantType  string
		decodeSub string // the Subject as decoded from the returned headers
	}{
		{"RET=FULL, 8-bit body", NotifyFailure,
			Message{From: "s@example.org", RetFull: true, EightBit: true,
				Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "550 5.6.3 mx.example.net does not support 8BITMIME"}}},
			"Subject: plain\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n",
			[]string{"Subject: plain\r\n", "8-bit", "Status: 5.6.3"}, []string{"vu\r\n"}, "text/rfc822-headers", "plain"},
		{"SMTPUTF8 headers, ASCII sender", NotifyFailure,
			Message{From: "s@example.org", UTF8: true,
				Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "550 5.6.7 mx does not support SMTPUTF8"}}},
			utf8Head + "\r\nbody\r\n",
			[]string{"Message-ID: <1@example.org>\r\n", "From: =?utf-8?q?x?= <a@example.org>\r\n", "left out: To\r\n", "X-Note: =?utf-8?"},
			[]string{"message/global", "J=?"}, "text/rfc822-headers", "café crème brûlée"},
		{"non-ASCII recipient and reply", NotifyFailure,
			Message{From: "s@example.org", UTF8: true,
				Rcpts: []Recipient{{Addr: "p\xc3\xa9l\xc3\xa9+x@example.net", ORcpt: "utf-8;p\xc3\xa9l\xc3\xa9+x@example.net",
					LastReply: "553 5.6.7 r\xc3\xa9ponse"}}},
			"Subject: hi\r\n\r\nhello\r\n",
			[]string{"Final-Recipient: utf-8; p\\x{E9}l\\x{E9}\\x{2B}x@example.net\r\n",
				"Original-Recipient: utf-8; p\\x{E9}l\\x{E9}\\x{2B}x@example.net\r\n"}, nil, "text/rfc822-headers", "hi"},
		{"delay DSN of SMTPUTF8 headers", NotifyDelay,
			Message{From: "s@example.org", UTF8: true,
				Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "451 4.4.1 no answer"}}},
			utf8Head + "\r\nbody\r\n",
			[]string{"Action: delayed", "left out"}, []string{"message/global"}, "text/rfc822-headers", "café crème brûlée"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			m.ID, m.Arrived = 0xABC, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			if DSNNeedsSMTPUTF8(&m) {
				t.Fatal("a DSN to an ASCII sender needs SMTPUTF8")
			}
			out := BuildDSN("mx.test", &m, []byte(tc.body), tc.kind, []int{0}, m.Arrived, m.Arrived.Add(time.Hour), 0xDEF, 50<<10)
			if i := firstEightBit(out); i >= 0 {
				t.Fatalf("8-bit DSN (byte %d: %q):\n%s", i, out[max(0, i-40):min(len(out), i+40)], out)
			}
			s := string(out)
			if !strings.Contains(s, "Content-Type: "+tc.wantType+"\r\n") || !strings.Contains(s, "Content-Type: message/delivery-status\r\n") {
				t.Errorf("parts are not %s and message/delivery-status:\n%s", tc.wantType, s)
			}
			// The human-readable part, decoded, is what it says.
			human := readable(t, s)
			for _, w := range tc.want {
				if !strings.Contains(s, w) && !strings.Contains(human, w) {
					t.Errorf("DSN lacks %q:\n%s\n--- readable:\n%s", w, s, human)
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(s, a) {
					t.Errorf("DSN carries %q:\n%s", a, s)
				}
			}
			if r := tc.m.Rcpts[0].Addr; !strings.Contains(human, r) {
				t.Errorf("readable part does not name %q:\n%s", r, human)
			}
			if got := returnedSubject(t, s); got != tc.decodeSub {
				t.Errorf("returned Subject decodes to %q, want %q", got, tc.decodeSub)
			}
		})
	}
}

// A DSN to an SMTPUTF8 sender address must itself be SMTPUTF8 (RFC 6533):
// global types, and the original's headers as they are.
func TestDSNToUTF8SenderIsGlobal(t *testing.T) {
	m := &Message{ID: 0xABC, From: "j\xc3\xbcrgen@example.org", UTF8: true, Arrived: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "550 5.1.1 no"}}}
	if !DSNNeedsSMTPUTF8(m) {
		t.Fatal("a DSN to a UTF-8 sender address is not SMTPUTF8")
	}
	out := string(BuildDSN("mx.test", m, []byte("Subject: caf\xc3\xa9\r\n\r\nx\r\n"), NotifyFailure, []int{0}, m.Arrived, m.Arrived, 0xDEF, 0))
	for _, w := range []string{"Content-Type: message/global-delivery-status\r\n", "Content-Type: message/global-headers\r\n", "Subject: caf\xc3\xa9\r\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("DSN lacks %q:\n%s", w, out)
		}
	}
}

// readable is the decoded human-readable part of a DSN.
func readable(t *testing.T, dsn string) string {
	t.Helper()
	_, rest, ok := strings.Cut(dsn, "Content-Description: Notification\r\n")
	if !ok {
		t.Fatalf("no notification part:\n%s", dsn)
	}
	hdr, part, _ := strings.Cut(rest, "\r\n\r\n")
	part, _, _ = strings.Cut(part, "\r\n--")
	if strings.Contains(hdr, "quoted-printable") {
		b, err := readAllQP(part)
		if err != nil {
			t.Fatalf("readable part: %v", err)
		}
		return b
	}
	return part
}

func readAllQP(s string) (string, error) {
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	return string(b), err
}

// returnedSubject is the Subject of the returned header section, RFC
// 2047-decoded and unfolded.
func returnedSubject(t *testing.T, dsn string) string {
	t.Helper()
	i := strings.LastIndex(dsn, "Content-Type: ")
	part := dsn[i:]
	_, part, _ = strings.Cut(part, "\r\n\r\n")
	unfolded := strings.ReplaceAll(part, "\r\n ", " ")
	unfolded = strings.ReplaceAll(unfolded, "\r\n\t", "\t")
	for _, l := range strings.Split(unfolded, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			d, err := new(mime.WordDecoder).DecodeHeader(v)
			if err != nil {
				t.Fatalf("Subject %q: %v", v, err)
			}
			return d
		}
	}
	return ""
}

// Whatever the header section, sevenBitHeader's output has no byte
// above 127, keeps every 7-bit field as it was and in order, is left
// alone when made 7-bit again, and an encoded unstructured field
// decodes to the field's text.
func FuzzSevenBitHeader(f *testing.F) {
	f.Add([]byte("Subject: caf\xc3\xa9\r\n folded\r\nTo: <j\xc3\xbc@x>\r\nX-A: b\r\n"), "caf\xc3\xa9 =?utf-8?q?x?= _")
	f.Add([]byte("\xff: x\r\n\r\n  \xfe\n"), "\xff\xfe")
	f.Add([]byte("no colon \xc3\xa9"), "")
	f.Fuzz(func(t *testing.T, h []byte, subject string) {
		out, dropped := sevenBitHeader(h)
		if Has8bit(out) {
			t.Fatalf("8-bit output %q", out)
		}
		if again, d := sevenBitHeader(out); !bytes.Equal(again, out) || len(d) != 0 {
			t.Fatalf("not stable: %q -> %q (dropped %q)", out, again, d)
		}
		rest := out
		for _, f := range headerFields(h) {
			if Has8bit(f) {
				continue
			}
			i := bytes.Index(rest, f)
			if i < 0 {
				t.Fatalf("7-bit field %q lost or out of order in %q", f, out)
			}
			rest = rest[i+len(f):]
		}
		for _, d := range dropped {
			if d == "" || Has8bit([]byte(d)) {
				t.Fatalf("dropped field named %q", d)
			}
		}
		// One Subject field of any text: encoded, it decodes to that text.
		subject = strings.NewReplacer("\r", "", "\n", "").Replace(subject)
		if isASCII(subject) {
			return
		}
		enc, d := sevenBitHeader([]byte("Subject: " + subject + "\r\n"))
		if len(d) != 0 {
			t.Fatalf("Subject dropped: %q", d)
		}
		for _, l := range bytes.Split(enc, []byte("\r\n")) {
			if len(l) > 76 {
				t.Fatalf("encoded line of %d characters: %q", len(l), l)
			}
		}
		v, ok := bytes.CutPrefix(enc, []byte("Subject:"))
		if !ok || !bytes.HasSuffix(v, []byte("\r\n")) {
			t.Fatalf("encoded Subject %q", enc)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(strings.TrimLeft(strings.ReplaceAll(string(v[:len(v)-2]), "\r\n", ""), " "))
		if want := strings.ToValidUTF8(strings.TrimLeft(subject, " \t"), "\uFFFD"); err != nil || got != want {
			t.Fatalf("Subject %q encoded as %q decodes to %q (%v)", subject, v, got, err)
		}
	})
}

// headerFields splits a header section as sevenBitHeader does.
func headerFields(h []byte) [][]byte {
	var out [][]byte
	for len(h) > 0 {
		end := 0
		for {
			nl := bytes.IndexByte(h[end:], '\n')
			if nl < 0 {
				end = len(h)
				break
			}
			end += nl + 1
			if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
				break
			}
		}
		out = append(out, h[:end])
		h = h[end:]
	}
	return out
}

// utf8AddrText writes only ASCII xtext characters and \x{HEX} escapes,
// and reads back as the address (RFC 6533 §3).
func FuzzUTF8AddrText(f *testing.F) {
	f.Add("p\xc3\xa9l\xc3\xa9+x=y\\z @example.net")
	f.Add("\xff\x00\x7f")
	f.Fuzz(func(t *testing.T, addr string) {
		for _, unitext := range []bool{false, true} {
			out := utf8AddrText(addr, unitext)
			var got strings.Builder
			for i := 0; i < len(out); {
				if rest, ok := strings.CutPrefix(out[i:], `\x{`); ok {
					hex, _, ok := strings.Cut(rest, "}")
					var r rune
					if _, err := fmt.Sscanf(hex, "%X", &r); !ok || err != nil || len(hex) < 2 || strings.ToUpper(hex) != hex {
						t.Fatalf("bad escape in %q", out)
					}
					got.WriteRune(r)
					i += 3 + len(hex) + 1
					continue
				}
				c := out[i]
				if c <= 0x20 || c == 0x7f || c == '+' || c == '=' || c == '\\' || (c >= 0x80 && !unitext) {
					t.Fatalf("unescaped %q in %q", c, out)
				}
				got.WriteByte(c)
				i++
			}
			if want := strings.ToValidUTF8(addr, "\uFFFD"); got.String() != want {
				t.Fatalf("%q written as %q reads back as %q", addr, out, got.String())
			}
		}
	})
}

// The operator's removal with a DSN (and the quarantine's delete, the
// same path) of an SMTPUTF8 message with 8-bit content from an ASCII
// sender writes a 7-bit DSN not marked SMTPUTF8, like the manager's.
func TestRemovalDSNOfUTF8MessageIsSevenBit(t *testing.T) {
	s := openTest(t)
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 later" })
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "b@example.org", "z@example.net")
	m.UTF8, m.RetFull, m.Quarantine = true, true, "held"
	if err := q.Submit(ctx, m, []byte("Subject: caf\xc3\xa9\r\nTo: J\xc3\xbc <z@example.net>\r\n\r\nd\xc3\xa9j\xc3\xa0\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.RemoveMessage(ctx, m.ID, true); err != nil {
		t.Fatal(err)
	}
	var dsn *Message
	for _, x := range messages(t, s) {
		if x.Connector == "dsn" {
			dsn = x
		}
	}
	if dsn == nil {
		t.Fatal("no DSN")
	}
	b, _ := q.Body(dsn.ID)
	if dsn.UTF8 || dsn.EightBit || firstEightBit(b) >= 0 {
		t.Fatalf("DSN marked SMTPUTF8 %v, 8BITMIME %v, body:\n%s", dsn.UTF8, dsn.EightBit, b)
	}
	if !strings.Contains(string(b), "Subject: =?utf-8?q?caf=C3=A9?=\r\n") || !strings.Contains(string(b), "text/rfc822-headers") {
		t.Fatalf("DSN body:\n%s", b)
	}
}

// The names of the fields left out are the sender's text: their list
// is bounded, so a header section of many distinct non-ASCII fields
// does not make the DSN bigger than the returned content's cap.
func TestDSNDroppedFieldsListBounded(t *testing.T) {
	var h strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&h, "Field-%d-%s: \xc3\xa9\r\n", i, strings.Repeat("n", 60))
	}
	h.WriteString("Subject: x\r\n\r\nbody\r\n")
	m := &Message{ID: 0xABC, From: "s@example.org", UTF8: true, Arrived: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "550 5.6.7 no"}}}
	out := BuildDSN("mx.test", m, []byte(h.String()), NotifyFailure, []int{0}, m.Arrived, m.Arrived, 0xDEF, 10<<10)
	if len(out) > 14<<10 || !bytes.Contains(out, []byte("and 4990 more")) || !bytes.Contains(out, []byte("Subject: x\r\n")) {
		t.Fatalf("DSN of %d bytes:\n%.3000s", len(out), out)
	}
}

// SMTP-7, rt36 front F4: a DSN to a UTF-8 sender returns what RET asks,
// as any failure DSN does, in the RFC 6533 types: with RET=FULL the whole
// message as message/global (8-bit as it is), over bounce_size_limit or
// without RET its headers, as they are, as message/global-headers.
func TestDSNToUTF8SenderReturnsWhatRETAsks(t *testing.T) {
	body := []byte("Subject: caf\xc3\xa9\r\n\r\nthe body: cr\xc3\xa8me\r\n")
	for _, c := range []struct {
		name    string
		retFull bool
		limit   int64
		want    []string
		notWant string
	}{
		{"RET=FULL", true, 4096, []string{"Content-Type: message/global\r\n", "the body: cr\xc3\xa8me"}, "message/global-headers"},
		{"RET=FULL over bounce_size_limit", true, 20, []string{"Content-Type: message/global-headers\r\n", "Subject: caf\xc3\xa9\r\n"}, "the body"},
		{"no RET", false, 4096, []string{"Content-Type: message/global-headers\r\n", "Subject: caf\xc3\xa9\r\n"}, "the body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 0xF4, From: "j\xc3\xbcrgen@example.org", UTF8: true, RetFull: c.retFull, Arrived: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
				Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "550 5.1.1 no"}}}
			out := string(BuildDSN("mx.test", m, body, NotifyFailure, []int{0}, m.Arrived, m.Arrived, 0xDEF, c.limit))
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("DSN lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, c.notWant) {
				t.Errorf("DSN holds %q:\n%s", c.notWant, out)
			}
		})
	}
}
