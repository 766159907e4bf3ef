package header

import (
	"bytes"
	"testing"
)

func TestAuthservID(t *testing.T) {
	for in, want := range map[string]string{
		" mx.example.com; dkim=pass":           "mx.example.com",
		"MX.EXAMPLE.COM;spf=pass":              "MX.EXAMPLE.COM",
		" (c) mx.example.com; dmarc=pass":      "mx.example.com",
		" (a (nested) one)\r\n mx.example.com": "mx.example.com",
		" mx.example.com 1; dkim=pass":         "mx.example.com",
		"\r\n mx.example.com;\r\n\tdkim=pass":  "mx.example.com",
		` "mx.example.com"; dmarc=pass`:        "mx.example.com",
		` "unterminated`:                       "",
		" (only a comment)":                    "",
		"":                                     "",
	} {
		if got := AuthservID(in); got != want {
			t.Errorf("AuthservID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRemoveAuthResults: fields claiming one of the ids go, in any case
// and spelling; other servers' results and ARC-Authentication-Results
// stay; the body is never looked at.
func TestRemoveAuthResults(t *testing.T) {
	msg := "Received: from x\r\n" +
		"Authentication-Results: mx.example.com; dmarc=pass\r\n" +
		"authentication-results : (c) MX.Example.COM 1;\r\n\tdkim=pass\r\n" +
		"Authentication-Results: other.example; spf=pass\r\n" +
		"ARC-Authentication-Results: i=1; mx.example.com; dmarc=pass\r\n" +
		"Authentication-Results: mx.example.com.evil; dmarc=pass\r\n" +
		"Authentication-Results: mx.example.com/1; dkim=pass\r\n" +
		"Subject: s\r\n\r\n" +
		"Authentication-Results: mx.example.com; in the body\r\n"
	out, n := RemoveAuthResults([]byte(msg), "", "mx.example.com")
	want := "Received: from x\r\n" +
		"Authentication-Results: other.example; spf=pass\r\n" +
		"ARC-Authentication-Results: i=1; mx.example.com; dmarc=pass\r\n" +
		"Authentication-Results: mx.example.com.evil; dmarc=pass\r\n" +
		"Subject: s\r\n\r\n" +
		"Authentication-Results: mx.example.com; in the body\r\n"
	if n != 3 || string(out) != want {
		t.Fatalf("removed %d:\n%s", n, out)
	}
	if out, n := RemoveAuthResults([]byte(msg)); n != 0 || !bytes.Equal(out, []byte(msg)) {
		t.Fatalf("no ids removed %d", n)
	}
}

func FuzzRemoveAuthResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: (c) mx.example.com 1; dkim=pass\r\n\r\nbody"), "MX.example.com")
	f.Add([]byte("Authentication-Results: \"mx\r\n\r\n"), "mx")
	f.Fuzz(func(t *testing.T, m []byte, id string) {
		out, n := RemoveAuthResults(m, id)
		if n > Count(m, AuthResults) || Count(out, AuthResults) != Count(m, AuthResults)-n {
			t.Fatalf("removed %d of %d, %d left", n, Count(m, AuthResults), Count(out, AuthResults))
		}
		if again, k := RemoveAuthResults(out, id); k != 0 || !bytes.Equal(again, out) {
			t.Fatalf("%q still has %d claiming %q", out, k, id)
		}
		_, end := fields(m)
		_, outEnd := fields(out)
		if !bytes.Equal(m[end:], out[outEnd:]) {
			t.Fatalf("body changed")
		}
	})
}

// An authserv-id is a domain name: a final dot, on either side, names
// the same one.
func TestAuthservIDTrailingDot(t *testing.T) {
	msg := "Authentication-Results: mx.corp.test.; dmarc=pass\r\n" +
		"Authentication-Results: \"MX.corp.test.\"; dkim=pass\r\n" +
		"Authentication-Results: mx.corp.test..; spf=pass\r\n" +
		"Subject: s\r\n\r\nb\r\n"
	out, n := RemoveAuthResults([]byte(msg), "mx.corp.test")
	if n != 2 || string(out) != "Authentication-Results: mx.corp.test..; spf=pass\r\nSubject: s\r\n\r\nb\r\n" {
		t.Fatalf("removed %d:\n%s", n, out)
	}
	if _, n := RemoveAuthResults([]byte("Authentication-Results: mx.corp.test; x=y\r\n\r\n"), "mx.corp.test."); n != 1 {
		t.Fatalf("configured id with a dot: removed %d", n)
	}
	if SameAuthservID("", "") || SameAuthservID(".", "") {
		t.Fatal("an empty id matches")
	}
}

// The fields umbra wrote are kept, each once; any copy of them is not.
func TestRemoveAuthResultsExcept(t *testing.T) {
	own := "Authentication-Results: mx.corp.test; dmarc=pass\r\n"
	msg := own + "Subject: s\r\n" + own + "Authentication-Results: mx.corp.test; dmarc=fail\r\n\r\nb"
	out, n := RemoveAuthResultsExcept([]byte(msg), [][]byte{[]byte(own)}, "mx.corp.test")
	if n != 2 || string(out) != own+"Subject: s\r\n\r\nb" {
		t.Fatalf("removed %d:\n%s", n, out)
	}
	if got := UmbraAuthResults([]byte(msg), "mx.corp.test."); len(got) != 3 {
		t.Fatalf("found %d of umbra's", len(got))
	}
}

// Forms that are not umbra's id in RFC 8601 syntax but that a lenient
// reader (one trimming Unicode spaces, or dropping backslashes) would
// take for it are removed too: a claim is judged the way a reader might.
func TestAuthservIDLookalikesRemoved(t *testing.T) {
	msg := "Authentication-Results: mx.corp.test\u00a0; dmarc=pass\r\n" +
		"Authentication-Results: mx\\.corp.test; dkim=pass\r\n" +
		"Authentication-Results: \u2003mx.corp.test; spf=pass\r\n" +
		"Authentication-Results: other.test; spf=pass\r\n" +
		// RFC 8601 §2.2: the id is a value (RFC 2045 token: no tspecial),
		// its version after white space. One glued to it with "/" (or
		// any tspecial) ends the token: a reader that parses the field
		// takes the id before it (rt40 edge check).
		"Authentication-Results: mx.corp.test/1; dkim=pass\r\n" +
		"Authentication-Results: MX.corp.test,x; dkim=pass\r\n" +
		"Authentication-Results: mx.corp.test=1; dkim=pass\r\n" +
		"Authentication-Results: mx.corp.test:25; dkim=pass\r\n" +
		"Authentication-Results: mx.corp.test.evil/1; dkim=pass\r\n" +
		"Subject: s\r\n\r\nb\r\n"
	out, n := RemoveAuthResults([]byte(msg), "mx.corp.test")
	if n != 7 || string(out) != "Authentication-Results: other.test; spf=pass\r\n"+
		"Authentication-Results: mx.corp.test.evil/1; dkim=pass\r\nSubject: s\r\n\r\nb\r\n" {
		t.Fatalf("removed %d:\n%q", n, out)
	}
}

// A lenient reader that splits on Unicode white space (Go's
// strings.Fields, Python's str.split) takes "mx.corp.test", a no-break
// space and more for umbra's id followed by a version: such a field is
// removed like one glued with a tspecial. A foreign id that only starts
// with umbra's name stays, with or without a space after it.
func TestAuthservIDUnicodeSpaceGlueRemoved(t *testing.T) {
	msg := "Authentication-Results: mx.corp.test\u00a0forged; dmarc=pass\r\n" +
		"Authentication-Results: MX.corp.test.\u2003x; dkim=pass\r\n" +
		"Authentication-Results: mx.corp.test\u0085x; spf=pass\r\n" +
		"Authentication-Results: mx.corp.test\u3000x/1; spf=pass\r\n" +
		"Authentication-Results: mx.corp.test.evil\u00a0x; dkim=pass\r\n" +
		"Authentication-Results: mx.corp.testX\u00a0x; dkim=pass\r\n" +
		"Subject: s\r\n\r\nb\r\n"
	want := "Authentication-Results: mx.corp.test.evil\u00a0x; dkim=pass\r\n" +
		"Authentication-Results: mx.corp.testX\u00a0x; dkim=pass\r\n" +
		"Subject: s\r\n\r\nb\r\n"
	out, n := RemoveAuthResults([]byte(msg), "mx.corp.test")
	if n != 4 || string(out) != want {
		t.Fatalf("removed %d:\n%q", n, out)
	}
	if got := UmbraAuthResults([]byte(msg), "mx.corp.test"); len(got) != 4 {
		t.Fatalf("found %d of umbra's, want 4", len(got))
	}
}

// A reader that deletes comments before it reads the id (as umbra's own
// ARC sealer did) takes "mx.corp(x).test" for umbra's id: such a field
// is removed too. One that reads another name without its comments
// stays.
func TestAuthservIDCommentInsideRemoved(t *testing.T) {
	msg := "Authentication-Results: mx.corp(x).test; dmarc=pass\r\n" +
		"Authentication-Results: mx(a(b)).corp.test(c) 1; dkim=pass\r\n" +
		"Authentication-Results: mx.corp(x).test.evil; dkim=pass\r\n" +
		"Authentication-Results: (mx.corp.test) other.test; spf=pass\r\n" +
		"Subject: s\r\n\r\nb\r\n"
	want := "Authentication-Results: mx.corp(x).test.evil; dkim=pass\r\n" +
		"Authentication-Results: (mx.corp.test) other.test; spf=pass\r\n" +
		"Subject: s\r\n\r\nb\r\n"
	out, n := RemoveAuthResults([]byte(msg), "mx.corp.test")
	if n != 2 || string(out) != want {
		t.Fatalf("removed %d:\n%q", n, out)
	}
}
