package queue

import (
	"strings"
	"testing"
)

// The Status of a DSN comes from the next hop's last reply (anyone's
// text): it is always an RFC 3463 code, for a success of class 2 (the
// reply's own for a 2yz with a 2.x.y, else 2.0.0), of class 4 or 5 for a
// delay or a failure, and of the reply code's class when the reply has
// one.
func FuzzStatusOf(f *testing.F) {
	for _, s := range []string{"550 5.1.1 no such user", "451 4.3.0 later", "550 2.1.1 odd", "250 2.0.0 ok", "421 5.0.0 mixed",
		"5.1.1", "", "550", "550 5.1.1000 x", "452 4.2.2"} {
		for k := range uint8(3) {
			f.Add(s, k)
		}
	}
	f.Fuzz(func(t *testing.T, reply string, k uint8) {
		kind := []Notify{NotifySuccess, NotifyFailure, NotifyDelay}[k%3]
		st := statusOf(reply, kind)
		if !isStatusCode(st) {
			t.Fatalf("status %q from %q", st, reply)
		}
		switch {
		case kind == NotifySuccess && st != "2.0.0":
			if f := strings.Fields(reply); len(f) < 2 || len(f[0]) != 3 || f[0][0] != '2' || st != f[1] || st[0] != '2' {
				t.Fatalf("success with status %q from %q", st, reply)
			}
		case kind != NotifySuccess && st[0] != '4' && st[0] != '5':
			t.Fatalf("%v with status %q from %q", kind, st, reply)
		}
		if f := strings.Fields(reply); kind != NotifySuccess && len(f) >= 2 && len(f[0]) == 3 && st != f[1] && isStatusCode(f[1]) &&
			f[1][0] == f[0][0] && f[1][0] != '2' {
			t.Fatalf("status %q from %q: the reply's own not taken", st, reply)
		}
		if f := strings.Fields(reply); kind != NotifySuccess && len(f) >= 1 && len(f[0]) == 3 && (f[0][0] == '4' || f[0][0] == '5') &&
			st[0] != f[0][0] && kind == NotifyFailure {
			t.Fatalf("status %q from %q: not the reply's class", st, reply)
		}
	})
}

// What a DSN to an outside sender says of umbra's own diagnostic is the
// reply code, an RFC 3463 status and that status's reason from umbra's
// table — nothing of the diagnostic's text — but for an expiry, whose
// own words are kept and whose last reply is described the same way.
// The code and the status are the reply's own when it has them, as it
// gave them ("550 2.1.1" stays so: RFC 3464 quotes the host); a status
// the reply lacks is of its code's class, a code it lacks of the
// status's.
func FuzzDescribedReply(f *testing.F) {
	for _, s := range []string{"451 4.4.2 hub-b[10.0.0.2]:25: connection lost", "550 5.1.1 </var/spool/x>", "550 2.1.1 odd",
		"250 2.0.0 ok", "hub-b down", "", "421", expiredReply("550 5.4.7", 3600e9, "451 4.4.1 10.0.0.2:25: refused")} {
		for k := range uint8(3) {
			f.Add(s, k)
		}
	}
	f.Fuzz(func(t *testing.T, reply string, k uint8) {
		kind := []Notify{NotifySuccess, NotifyFailure, NotifyDelay}[k%3]
		got := describedReply(reply, kind)
		if code, last, ok := splitExpired(reply); ok {
			if !strings.HasPrefix(got, code+expiredText) || !strings.HasSuffix(got, lastReplyText+describedReply(last, NotifyDelay)) {
				t.Fatalf("expiry %q described as %q", reply, got)
			}
			return
		}
		p := strings.SplitN(got, " ", 3)
		if len(p) != 3 || len(p[0]) != 3 || !isStatusCode(p[1]) || p[2] != StatusReason(p[1]) {
			t.Fatalf("%q described as %q", reply, got)
		}
		f := strings.Fields(reply)
		hasCode := len(f) > 0 && len(f[0]) == 3 && strings.Trim(f[0], "0123456789") == "" && strings.IndexByte("245", f[0][0]) >= 0
		switch {
		case heldBy(reply) != "":
		case hasCode && p[0] != f[0]:
			t.Fatalf("%q described with code %q, not its own", reply, p[0])
		case hasCode && len(f) > 1 && isStatusCode(f[1]) && p[1] != f[1]:
			t.Fatalf("%q described with status %q, not its own", reply, p[1])
		case p[0][0] != p[1][0] && !(hasCode && len(f) > 1 && isStatusCode(f[1])):
			t.Fatalf("%q described as %q: a status or code made up of another class", reply, got)
		}
		if strings.Trim(p[0], "0123456789") != "" {
			t.Fatalf("%q described with code %q", reply, p[0])
		}
	})
}
