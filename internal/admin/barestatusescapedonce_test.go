package admin

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/testsupport"
)

// OPS-3: an answer without umbra's error text names the
// status line that came (%q, Go's quoting: the byte 0xe9 \xe9), and
// APIError's text is written as it is (the text form): ShownText over
// the %q doubled its backslash, so the byte read \\xe9, the text of its
// escape — the value escaped twice.
func TestOPS3BareAnswerStatusEscapedOnce(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "other.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	testsupport.Accept(t, ln, func(c net.Conn) {
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				l, err := br.ReadString('\n')
				if err != nil || l == "\r\n" {
					break
				}
			}
			c.Write([]byte("HTTP/1.1 500 Bad\xe9Thing\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		}()
	})
	_, err = NewClient(sock).Status()
	if err == nil {
		t.Fatal("no refusal")
	}
	if s := err.Error(); !strings.Contains(s, `"500 Bad\xe9Thing"`) || strings.Contains(s, `\\xe9`) {
		t.Errorf("the status is not named once as %%q writes it (\"500 Bad\\xe9Thing\"): %s", s)
	}
}
