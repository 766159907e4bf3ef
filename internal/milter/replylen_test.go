package milter

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// A plain action (accept, continue, discard, reject, tempfail, skip,
// progress) carries no data; one that does is a broken milter, and its
// word is not taken: the failure policy answers (451 4.7.1 under
// tempfail), never the action it seemed to send (EDGE-1).
func TestMilterPlainReplyWithData(t *testing.T) {
	for _, code := range []byte{repAccept, repContinue, repDiscard, repReject, repTempfail, repProgress} {
		t.Run(string(code), func(t *testing.T) {
			addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
				if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
					return
				}
				c.Write(appendPacket(nil, code, []byte("x")))
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

// Every reply code's length rule, at the parser: plain actions take no
// data; the others take what their form needs, nothing missing and
// nothing after it.
func TestParseReplyLengthRules(t *testing.T) {
	for _, tc := range []struct {
		code byte
		data string
		ok   bool
	}{
		{repAccept, "", true}, {repAccept, "\x00", false},
		{repContinue, "", true}, {repContinue, "c", false},
		{repDiscard, "", true}, {repDiscard, "x", false},
		{repReject, "", true}, {repReject, "550 no\x00", false},
		{repTempfail, "", true}, {repTempfail, "\x00\x00", false},
		{repSkip, "", true}, {repSkip, "s", false},
		{repProgress, "", true}, {repProgress, "p", false},
		{repReplyCode, "550 5.7.1 no\x00", true}, {repReplyCode, "", false}, {repReplyCode, "550 no\x00x", false},
		{repAddHeader, "X-A\x00v\x00", true}, {repAddHeader, "X-A\x00v\x00w\x00", false}, {repAddHeader, "X-A\x00", false},
		{repChgHeader, "\x00\x00\x00\x01X-A\x00v\x00", true}, {repChgHeader, "\x00\x00\x00", false}, {repChgHeader, "\x00\x00\x00\x01X-A\x00v\x00x", false},
		{repInsHeader, "\x00\x00\x00\x00X-A\x00v\x00", true}, {repInsHeader, "\x00\x00\x00\x00X-A\x00", false},
		{repAddRcpt, "<a@b.test>\x00", true}, {repAddRcpt, "<a@b.test>\x00x\x00", false}, {repAddRcpt, "", false},
		{repDelRcpt, "<a@b.test>\x00", true}, {repDelRcpt, "<a@b.test>", false},
		{repAddRcptPar, "<a@b.test>\x00NOTIFY=NEVER\x00", true}, {repAddRcptPar, "", false},
		{repChgFrom, "<a@b.test>\x00", true}, {repChgFrom, "", false},
		{repQuarantine, "why\x00", true}, {repQuarantine, "why\x00x\x00", false}, {repQuarantine, "", false},
		{repReplBody, "", true}, {repReplBody, "any\x00thing", true},
	} {
		_, err := parseReply(packet{code: tc.code, data: []byte(tc.data)})
		if (err == nil) != tc.ok {
			t.Errorf("reply %q with %q: err %v, want ok %v", tc.code, tc.data, err, tc.ok)
		}
	}
}
