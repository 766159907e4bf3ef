package smtp

import (
	"strings"
	"testing"
)

// SMTP-1 (rrfront42, front42 F3): a MAIL or RCPT line read from any
// input — CR, LF, NUL, 8-bit bytes, %-encoding, keywords of any length —
// never panics, and the refusal of its parameters (which names the first
// unknown keyword) is one reply line of printable ASCII within RFC
// 5321's 512 octets: nothing the client wrote adds a reply line or a
// control byte to the reply, or to the log that records it.
func FuzzMailLineParams(f *testing.F) {
	for _, s := range []string{"<a@example.test> FOO=1", "<a@example.test> F\rOO", "<a@example.test> F\x00O=\n", "<a@example.test> \xff\xfe=1",
		"<a@example.test> %0D%0A250-X", "a@example.test> SIZE=1", "<a@example.test> " + strings.Repeat("K", 300),
		"<a@example.test> SIZE=1 SIZE=2", "<\"a b>\"@example.test> X=1", "<> BODY=8BITMIME SMTPUTF8 XX", "a\"<\"@example.test", "",
		// front47 F2: the empty keyword, stray and doubled brackets,
		// spaces and quotes in the path, a second "=" in a value.
		"<alice@corp.test> =x", "<x@ext.test> =", "<x@ext.test>>", "<<alice@corp.test>>", "<<alice@corp.test>",
		"<\"alice@corp.test\">", "<alice@ corp.test>", "<alice@corp.test >", "<x>", "<x@ext.test> SIZE==5",
		"<x@ext.test> SIZE=5=5", "<no-domain@>", "<\"\"@x.test>", "<a,b@x.test>", "<\"a@x.test>", "<\"al\"ice@x.test>",
		"<alice@\uff43orp.test>", "<@a,@b:u@c.test>", "<postmaster>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		for _, cmd := range []string{"MAIL FROM:", "RCPT TO:"} {
			mail := cmd == "MAIL FROM:"
			ml := parseMailLine([]byte(cmd + rest + "\r\n"))
			ml.strayBracket()
			if why := ml.pathFault(!mail); len(why) > 100 || strings.ContainsFunc(why, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				t.Fatalf("%q: path fault %q is no bounded printable reason", cmd+rest, why)
			}
			if string(ml.bytes()) != cmd+rest+"\r\n" {
				t.Fatalf("%q: an unchanged line reads back as %q", cmd+rest, ml.bytes())
			}
			for _, shadow := range []bool{false, true} {
				r := checkParams(ml.params, mail, shadow)
				if r == "" {
					continue
				}
				if len(r) > 510 || len(r) < 4 || r[3] != ' ' || r[0] < '4' || r[0] > '5' {
					t.Fatalf("%q: reply %q is no bounded reply line", cmd+rest, r)
				}
				for i := 0; i < len(r); i++ {
					if c := r[i]; c < 0x20 || c > 0x7e {
						t.Fatalf("%q: reply %q holds byte %#x", cmd+rest, r, c)
					}
				}
			}
		}
	})
}
