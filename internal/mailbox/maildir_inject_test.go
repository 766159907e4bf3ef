package mailbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two addresses that differ (ASCII case aside) never share a Maildir:
// '/' in a local part (legal atext) is not written as '_', a leading
// '.' is not written as "_.", and so on.
func TestPathIsInjective(t *testing.T) {
	d := &Maildir{Root: "/m"}
	for _, c := range [][2]string{
		{"p/q", "p_q"}, {"a/b/c/d", "a_b_c_d"}, {"u/new", "u_new"}, {".x", "_.x"}, {"", "_"},
		{"a\x00b", "a_b"}, {`a\b`, "a_b"}, {"a\x01b", "a_b"}, {"a%b", "a%25b"}, {"a/b", "a%2Fb"},
		{"..", "_.."}, {".", "_."}, {"%", ""},
	} {
		if d.Path(c[0], "x.test") == d.Path(c[1], "x.test") {
			t.Errorf("%q@x.test and %q@x.test share the Maildir %s", c[0], c[1], d.Path(c[0], "x.test"))
		}
		if d.Path("a", c[0]) == d.Path("a", c[1]) {
			t.Errorf("domains %q and %q share the directory %s", c[0], c[1], d.Path("a", c[0]))
		}
	}
}

// Ordinary addresses keep the paths they always had: the local part and
// the domain, ASCII-lowered.
func TestPathOfOrdinaryAddressesUnchanged(t *testing.T) {
	d := &Maildir{Root: "/m"}
	for local, want := range map[string]string{
		"Alice": "alice", "john.doe+tag": "john.doe+tag", "p_q": "p_q", "o'brien": "o'brien",
		"x-y=z": "x-y=z", "émile": "émile", "a!#$&*?^`{|}~": "a!#$&*?^`{|}~", "Δ": "Δ",
	} {
		if got := d.Path(local, "Example.TEST"); got != filepath.Join("/m", "example.test", want) {
			t.Errorf("Path(%q) = %s, want /m/example.test/%s", local, got, want)
		}
	}
}

// The mapping, end to end: mail to p/q@ and to p_q@ lands in two
// mailboxes, each holding its own message only.
func TestDeliverSlashAndUnderscoreApart(t *testing.T) {
	d := &Maildir{Root: t.TempDir(), Hostname: "mx.test"}
	for _, l := range []string{"p/q", "p_q"} {
		if err := d.Deliver(l, "x.test", "a@example.org", Name("db", "org1", l+"@x.test"), []byte("Subject: s\r\n\r\nb\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"p/q", "p_q"} {
		news, _ := os.ReadDir(filepath.Join(d.Path(l, "x.test"), "new"))
		if len(news) != 1 {
			t.Fatalf("%s@x.test: %d messages in %s", l, len(news), d.Path(l, "x.test"))
		}
		b, _ := os.ReadFile(filepath.Join(d.Path(l, "x.test"), "new", news[0].Name()))
		if !strings.Contains(string(b), "Delivered-To: "+l+"@x.test\r\n") {
			t.Errorf("%s@x.test's mailbox holds %q", l, b)
		}
	}
	dirs, _ := os.ReadDir(filepath.Join(d.Root, "x.test"))
	if len(dirs) != 2 {
		t.Errorf("%d mailboxes under x.test, want 2", len(dirs))
	}
}

// FuzzPath: every path is one directory below the domain's, one below
// the root, never "." or "..", never hidden, and decodes back to the
// ASCII-folded input (so no two inputs share it).
func FuzzPath(f *testing.F) {
	for _, s := range []string{"alice", "p/q", "..", ".x", "", "%", "%2F", "a\x00b", `a\b`, "É/é"} {
		f.Add(s, "example.test")
	}
	d := &Maildir{Root: "/m"}
	f.Fuzz(func(t *testing.T, local, domain string) {
		p := d.Path(local, domain)
		rel, err := filepath.Rel(d.Root, p)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 2 {
			t.Fatalf("Path(%q, %q) = %q: not two levels", local, domain, p)
		}
		for i, in := range []string{domain, local} {
			c := parts[i]
			if c == "" || c == "." || c == ".." || strings.HasPrefix(c, ".") {
				t.Fatalf("Path(%q, %q) = %q: component %q", local, domain, p, c)
			}
			back, ok := decodeComponent(c)
			if !ok || back != foldASCII(in) {
				t.Fatalf("component %q of %q decodes to %q, %v", c, in, back, ok)
			}
		}
	})
}

func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// decodeComponent inverts the documented encoding: "%" alone is the
// empty name, "%XX" a byte, anything else itself.
func decodeComponent(c string) (string, bool) {
	if c == "%" {
		return "", true
	}
	var out []byte
	for i := 0; i < len(c); i++ {
		if c[i] != '%' {
			out = append(out, c[i])
			continue
		}
		if i+3 > len(c) {
			return "", false
		}
		var b byte
		for _, h := range c[i+1 : i+3] {
			switch {
			case h >= '0' && h <= '9':
				b = b<<4 | byte(h-'0')
			case h >= 'A' && h <= 'F':
				b = b<<4 | byte(h-'A'+10)
			default:
				return "", false
			}
		}
		out = append(out, b)
		i += 2
	}
	return string(out), true
}

// A delivery a reader moved to cur/ with flags is found whatever
// pattern characters the path holds (a root with '[', a local part
// with '*'): the copy is not written again.
func TestAlreadyDeliveredWithPatternCharacters(t *testing.T) {
	d := &Maildir{Root: filepath.Join(t.TempDir(), "m[1"), Hostname: "mx.test"}
	for _, l := range []string{"a*", "b?"} {
		name := Name("db", "org1", l+"@x.test")
		if err := d.Deliver(l, "x.test", "a@example.org", name, []byte("Subject: s\r\n\r\nb\r\n")); err != nil {
			t.Fatal(err)
		}
		dir := d.Path(l, "x.test")
		if err := os.Rename(filepath.Join(dir, "new", name), filepath.Join(dir, "cur", name+":2,S")); err != nil {
			t.Fatal(err)
		}
		if err := d.Deliver(l, "x.test", "a@example.org", name, []byte("Subject: s\r\n\r\nb\r\n")); err != ErrAlreadyDelivered {
			t.Fatalf("%s: second delivery of a copy read and flagged: %v, want ErrAlreadyDelivered", l, err)
		}
	}
}

// rt19 F4: a C1 control character (U+009B is a terminal's CSI), a format
// character (U+202E RIGHT-TO-LEFT OVERRIDE, zero-width ones, U+FEFF) or
// a line separator in an SMTPUTF8 local part was written raw into the
// directory name, where `ls` or `find` shows it to the operator. Each of
// its bytes is now escaped; printable UTF-8 stays as it is.
func TestPathEscapesMisleadingCharacters(t *testing.T) {
	d := &Maildir{Root: "/m"}
	for local, want := range map[string]string{
		"a\u009b31mred": "a%C2%9B31mred",
		"a\u0085b":      "a%C2%85b",
		"evil\u202etxt": "evil%E2%80%AEtxt",
		"zw\u200bsp":    "zw%E2%80%8Bsp",
		"\ufeffbom":     "%EF%BB%BFbom",
		"l\u2028s":      "l%E2%80%A8s",
		"bad\xffutf8":   "bad%FFutf8",
		"émile":         "émile",
	} {
		if got := d.Path(local, "example.test"); got != filepath.Join("/m", "example.test", want) {
			t.Errorf("Path(%q) = %s, want /m/example.test/%s", local, got, want)
		}
	}
}
