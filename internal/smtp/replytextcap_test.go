package smtp

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Outside text a check or milter puts into a reply (smfi_setmlreply's
// lines, a check result's text) is escaped and capped as echoed client
// text is: at most maxEcho characters a line once escaped, so a reply
// line is never over 512 octets (RFC 5321 §4.5.3.1.5; SMTP-2).
func TestCheckReplyTextCapped(t *testing.T) {
	long := strings.Repeat("\u00e9", 248) // 496 octets, 2 each: 8 once escaped
	text := long + "\n" + strings.Repeat("x", 5000) + "\nshort \\x41 line"
	ck := &scripted{rcpt: checkRefuse(550, gosmtp.EnhancedCode{5, 7, 1}, text)}
	s := startWithChecks(t, &fakeQueue{}, ck)
	c, err := net.DialTimeout("tcp", s.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	read := func() []string {
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v after %q", err, lines)
			}
			lines = append(lines, l)
			if len(l) < 4 || l[3] != '-' {
				return lines
			}
		}
	}
	read()
	c.Write([]byte("EHLO client.test\r\n"))
	read()
	c.Write([]byte("MAIL FROM:<a@sender.test>\r\nRCPT TO:<u@example.test>\r\n"))
	read()
	lines := read()
	if len(lines) != 3 {
		t.Fatalf("reply %q, want 3 lines", lines)
	}
	for i, l := range lines {
		if len(l) > 512 {
			t.Errorf("line %d: %d octets", i, len(l))
		}
		txt := strings.TrimSuffix(l, "\r\n")
		if !strings.HasPrefix(txt, "550") || !strings.Contains(txt[:10], "5.7.1 ") {
			t.Errorf("line %d: %q", i, txt)
			continue
		}
		if n := len(txt) - len("550-5.7.1 "); n > maxEcho+len(echoCut) {
			t.Errorf("line %d: %d characters of text, want at most %d", i, n, maxEcho+len(echoCut))
		}
	}
	if last := strings.TrimSuffix(lines[2], "\r\n"); last != `550 5.7.1 short \\x41 line` {
		t.Errorf("last line %q: the text \\x41 must not read as a byte", last)
	}
	if !strings.HasSuffix(strings.TrimSuffix(lines[0], "\r\n"), `\xc3\xa9`+echoCut) {
		t.Errorf("first line %q: escaped, then cut", lines[0])
	}
}
