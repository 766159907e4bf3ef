package smtp

import (
	"strings"
	"testing"
	"unicode/utf8"

	"umbra/internal/config"
)

func TestParseAddress(t *testing.T) {
	good := map[string]string{
		"a@example.org": "a@example.org", "A.B+c@Example.ORG.": "A.B+c@example.org",
		`"john doe"@example.org`: `"john doe"@example.org`, "x@[192.0.2.1]": "x@[192.0.2.1]",
		"x@[IPv6:2001:db8::1]": "x@[IPv6:2001:db8::1]", "jörg@bücher.example": "jörg@bücher.example",
	}
	for in, want := range good {
		a, err := ParseAddress(in)
		if err != nil || a.String() != want {
			t.Errorf("ParseAddress(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, in := range []string{"", "a", "a@", "@b", "a b@example.org", "a..b@example.org", ".a@example.org",
		"a@-x.org", "a@x..org", "a@[1.2.3]", `"unterminated@example.org`, "a\x00@example.org",
		"\"\\\x00\"@x.org", "\"\\\r\"@x.org", "\"a\r\nb\"@x.org",
		strings.Repeat("l", 65) + "@example.org", "a@" + strings.Repeat("d.", 130) + "org", "\xff@example.org"} {
		if a, err := ParseAddress(in); err == nil {
			t.Errorf("ParseAddress(%q) = %v, want an error", in, a)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@example.org", `"q\"x"@e.org`, "x@[IPv6:::1]", "jörg@bücher.example", "a@b@c",
		`"..\\..\\x"@e.org`, `"a. b"@e.org`, `"x. "@e.org`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		// SMTP-1 (rt36 front F3): no local part taken, quoted or not,
		// has a dot first, last or doubled (words between dots blank).
		content := a.Local
		if strings.HasPrefix(content, `"`) {
			content = quotedContent(content)
		}
		for _, w := range strings.Split(content, ".") {
			if strings.Contains(content, ".") && strings.Trim(w, " ") == "" {
				t.Fatalf("accepted %q: its local part's dots are wrong", s)
			}
		}
		out := a.String()
		if len(out) > 254 || !utf8.ValidString(out) || strings.ContainsAny(out, "\r\n\x00") {
			t.Fatalf("accepted %q as %q", s, out)
		}
		again, err := ParseAddress(out)
		if err != nil || again != a {
			t.Fatalf("not idempotent: %q -> %q -> %v %v", s, out, again, err)
		}
	})
}

func TestHeaderValue(t *testing.T) {
	msg := []byte("Subject: x\r\nmessage-id:\r\n <abc@example.org>\r\nX-Other: y\r\n\r\nMessage-ID: <body@not.header>\r\n")
	if got := headerValue(msg, "Message-ID"); got != "<abc@example.org>" {
		t.Errorf("folded Message-ID: %q", got)
	}
	if got := headerValue([]byte("Subject: x\r\n\r\nMessage-ID: <b@x>\r\n"), "Message-ID"); got != "" {
		t.Errorf("a body line was taken for a header: %q", got)
	}
}

// A credentials file is read without a panic, errors name the line and
// never repeat a password hash.
func FuzzParseCredentials(f *testing.F) {
	f.Add("alice:$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy\nhub-b:$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy:server\n")
	f.Add("# comment\n\nbob:notahash\n")
	f.Add("a:b:c:d\n:x\n")
	// The parser alone: parseCredentials adds a bcrypt hash of the dummy
	// at cost 10 or more to every file it accepts, which under -race took
	// most of a minute over the corpus and checks nothing here.
	f.Fuzz(func(t *testing.T, s string) {
		_, _, err := readCredentials(strings.NewReader(s), "creds")
		if err == nil {
			return
		}
		if !strings.HasPrefix(err.Error(), "creds:") && !strings.Contains(err.Error(), "token too long") {
			t.Fatalf("error without file and line: %v", err)
		}
		for _, line := range strings.Split(s, "\n") {
			parts := strings.Split(strings.TrimSpace(line), ":")
			if len(parts) >= 2 && len(parts[1]) >= 8 && strings.Contains(err.Error(), parts[1]) && !strings.Contains(parts[0], parts[1]) {
				t.Fatalf("error repeats a hash: %v", err)
			}
		}
	})
}

// Every bad line of a credentials file is reported, each at its line,
// not only the first (rt34 F3); a file past its limit is refused naming
// the limit, not read whole (F16).
func TestCredentialsReportEveryBadLine(t *testing.T) {
	_, err := parseCredentials(strings.NewReader("alice:notahash\nbob\n# c\ncarol:$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy:admin\n"), "creds")
	want := "creds:1: the password of \"alice\" is not a bcrypt hash\ncreds:2: want name:bcrypt-hash[:server]\ncreds:4: unknown flag \"admin\" (server)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want\n%s", err, want)
	}
	// Comment lines without end, past the limit: refused there, at the
	// limit, the lines before it parsed as they came.
	comments := strings.NewReader(strings.Repeat("# comment\n", 1<<17))
	_, err = parseCredentials(config.LimitReader(comments, 1<<20, "a credentials file"), "creds")
	if err == nil || err.Error() != "creds: file too large: larger than the 1 MiB limit for a credentials file" {
		t.Errorf("past the limit: %v", err)
	}
}
