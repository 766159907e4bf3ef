package signing

import (
	"bytes"
	"strings"
	"testing"
)

// SMTP-5 (rt21b M1's sibling): umbra signs only a header section every
// reader frames alike. A line before the empty line that is neither a
// header field (header.FieldStart, the receive side's rule) nor a
// continuation of one would end the header section at the next hop —
// its From: and whatever follows would be body there, and the signature
// would cover fields no reader shows as header — so such a message is
// sent unsigned, as one without an empty line is, in memory and as a
// stream.
func TestSignOnlyOneFraming(t *testing.T) {
	s, err := NewSigner(Options{Keys: []Key{{Domain: "umbra.test", Selector: "dk1", Signer: testEd25519(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{
		"Subject: s\r\nFrom ceo@example.org Thu Dec  3 00:00:00 2026\r\nFrom: a@umbra.test\r\n\r\nbody\r\n",
		"Subject: s\r\nBad Name: x\r\nFrom: a@umbra.test\r\n\r\nbody\r\n",
		" X-Lead: continues nothing\r\nFrom: a@umbra.test\r\n\r\nbody\r\n",
		"garbage\r\nFrom: a@umbra.test\r\n\r\nbody\r\n",
	} {
		out, res, err := s.Sign([]byte(msg), "a@umbra.test")
		if err == nil || string(out) != msg || res.DKIM != "" {
			t.Errorf("Sign(%q): %v, %+v, signed %q", msg, err, res, out[:len(out)-len(msg)])
		}
		head := []byte(msg[:strings.Index(msg, "\r\n\r\n")+4])
		if pre, _, err := s.SignOriginStream(head, bytes.NewReader([]byte(msg)), "a@umbra.test", true); err == nil || len(pre) != 0 {
			t.Errorf("SignOriginStream(%q): %v, %q", msg, err, pre)
		}
	}
	// The obsolete blanks before a colon still make a field.
	msg := "Subject : s\r\nFrom: a@umbra.test\r\n\r\nbody\r\n"
	if out, _, err := s.Sign([]byte(msg), "a@umbra.test"); err != nil || !bytes.HasPrefix(out, []byte("DKIM-Signature:")) {
		t.Errorf("Sign(%q): %v, %q", msg, err, out)
	}
}
