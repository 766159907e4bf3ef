package smtp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/shadowid"
)

// What a peer answers to the shadow verbs of versions 6 and 7 (anyone's
// bytes when the peer is not umbra): a batch reply, a mark, an error
// reply's enhanced code. Each reads or is refused, never panics, and
// what is read is what umbra itself writes.
func FuzzPeerReplyFields(f *testing.F) {
	for _, s := range []string{
		"250-COPY 1 250 2.0.0 kept\r\n250-COPY 2 550 5.7.1 refused here\r\n250 2.0.0 2 copies\r\n",
		"250-COPY 1 451 4.3.0 try later\r\n250 2.0.0 1 copy\r\n",
		"250 2.0.0 0 discard notifications MARK=18446744073709551615\r\n",
		"550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n",
		"250-COPY 01 250 x\r\n250 ok\r\n", "250-COPY 1 99 x\r\n250 ok\r\n", "451 4.4.4.4 x\r\n", "554 5.x.1 y\r\n",
		"250 MARK=00000000000000000000001\r\n",
		"250-2.0.0 1 discard notifications\r\n250 a-1 MARK=9\r\n", // a mark on an entry line places nothing
		"250-2.0.0 1 discard notifications MARK=7 MARK=x\r\n250 a-1\r\n",
	} {
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		code, texts, err := readReplyCode(bytes.NewReader(b))
		if err != nil {
			return
		}
		if code < 200 || code > 599 || len(texts) == 0 {
			t.Fatalf("reply %d %q", code, texts)
		}
		if errs, err := parseBatchReply(texts, int(n%8)); err == nil {
			if len(errs) != int(n%8) {
				t.Fatalf("%d answers for %d copies", len(errs), n%8)
			}
			for i, e := range errs {
				if e == nil {
					continue
				}
				var se *gosmtp.SMTPError
				if !errors.As(e, &se) || se.Code < 200 || se.Code > 599 || se.Code == 250 {
					t.Fatalf("copy %d: %v", i+1, e)
				}
			}
		}
		se := parseSMTPError(code, strings.Join(texts, "\n"))
		if se.Code != code {
			t.Fatalf("code %d read as %d", code, se.Code)
		}
		if se.EnhancedCode != (gosmtp.EnhancedCode{}) {
			ec := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
			if first, _, _ := strings.Cut(texts[0], " "); strings.TrimLeft(first, "+") != strings.TrimLeft(ec, "+") && !sameNumbers(first, se.EnhancedCode) {
				t.Fatalf("enhanced code %s from %q", ec, texts[0])
			}
		}
		// The mark an XQUERYDISCARD reply presents (rrearlymark40): the
		// holder keeps an early discard under it. Read from the first
		// line alone, only in a session that asked for marks, and 0 when
		// it does not read as a mark; never one left from an earlier reply.
		for _, asked := range []bool{false, true} {
			c := &Client{markAsked: asked, DiscardMark: 99}
			c.noteQueryMark(texts)
			want := uint64(0)
			if i := strings.LastIndex(texts[0], " MARK="); asked && i >= 0 {
				if n, ok := parseMark(texts[0][i+1:]); ok {
					want = n
				}
			}
			if c.DiscardMark != want {
				t.Fatalf("asked %v: reply %q read as discard mark %d, want %d", asked, texts, c.DiscardMark, want)
			}
		}
		for _, l := range texts {
			if i := strings.LastIndex(l, " MARK="); i >= 0 {
				if m, ok := parseMark(l[i+1:]); ok {
					if again, ok := parseMark("MARK=" + strconv.FormatUint(m, 10)); !ok || again != m {
						t.Fatalf("mark %d from %q reads back as %d %v", m, l, again, ok)
					}
				}
			}
			if ask, mark, hasMark, db, ok := parseMarkArgs(l); ok && db != "" {
				if !ask || !shadowid.Valid(db) || (!hasMark && mark != 0) {
					t.Fatalf("%q: mark %d (%v) db %q", l, mark, hasMark, db)
				}
				form := fmt.Sprintf("MARK=%d DB=%s", mark, db)
				if !hasMark {
					form = "MARK DB=" + db
				}
				if a2, m2, h2, d2, ok := parseMarkArgs(form); !ok || !a2 || m2 != mark || h2 != hasMark || d2 != db {
					t.Fatalf("%q: the client's form reads back as %v %d %q %v", l, a2, m2, d2, ok)
				}
			}
		}
	})
}

// sameNumbers: the dotted numbers s reads as ec (strconv.Atoi takes
// leading zeros and a sign).
func sameNumbers(s string, ec gosmtp.EnhancedCode) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n != ec[i] {
			return false
		}
	}
	return true
}
