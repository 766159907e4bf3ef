package smtp

import (
	"strings"
	"testing"
)

// SR-17 (rr39, shadow verbs 24): the batch parser is the one reader of a
// record's MARK line. A MARK is read only after the COPY line of a
// record flagged M, in a session of version 24; anything else where it
// could stand is a framing error refusing the batch whole, never a line
// of the envelope or the body taken for a mark or the other way round.
func TestSR17BatchRecordMarkFraming(t *testing.T) {
	const body = "Subject: c\r\n\r\nhi\r\n"
	rec := func(flags, extra string) string {
		return "COPY " + itoa(uint64(len(body))) + " 1 " + flags + "\r\n" + extra + "FROM a@example.org\r\nRCPT x@elsewhere.org\r\n" + body
	}
	for _, c := range []struct {
		name  string
		p     string
		marks bool
		mark  uint64 // want, when parsed
		bad   bool
	}{
		{"marked, version 24", rec("M", "MARK 7\r\n"), true, 7, false},
		{"marked, version 23 session", rec("M", "MARK 7\r\n"), false, 0, true},
		{"flag without its line", rec("M", ""), true, 0, true},
		{"line without its flag", rec("-", "MARK 7\r\n"), true, 0, true},
		{"line twice", rec("M", "MARK 7\r\nMARK 8\r\n"), true, 0, true},
		{"flag twice", rec("MM", "MARK 7\r\n"), true, 0, true},
		{"zero", rec("M", "MARK 0\r\n"), true, 0, true},
		{"signed", rec("M", "MARK +7\r\n"), true, 0, true},
		{"above a uint64", rec("M", "MARK 18446744073709551616\r\n"), true, 0, true},
		{"more than 20 digits", rec("M", "MARK 000000000000000000007\r\n"), true, 0, true},
		{"lower case", rec("M", "mark 7\r\n"), true, 0, true},
		{"no space", rec("M", "MARK7\r\n"), true, 0, true},
		{"trailing space", rec("M", "MARK 7 \r\n"), true, 0, true},
		{"the largest", rec("M", "MARK 18446744073709551615\r\n"), true, 18446744073709551615, false},
		{"with an ENVID", strings.Replace(rec("EM", "MARK 9\r\n"), "EM\r\n", "EM e1\r\n", 1), true, 9, false},
	} {
		copies, err := parseCopyBatch([]byte(c.p), 1, 100, c.marks)
		switch {
		case c.bad && err == nil:
			t.Errorf("%s: parsed %+v, want a framing error", c.name, copies)
		case !c.bad && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !c.bad && (len(copies) != 1 || copies[0].mark != c.mark || copies[0].from != "a@example.org" || string(copies[0].body) != body):
			t.Errorf("%s: %+v, want mark %d", c.name, copies, c.mark)
		}
	}
}
