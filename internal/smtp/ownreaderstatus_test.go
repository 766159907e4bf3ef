package smtp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// SMTP-1 (words49 item 1): a reply umbra's own reader reads — to DATA,
// to the end of the message, LMTP's one per recipient — carries its
// enhanced status code parsed, as go-smtp's client gives every other
// reply (parseSMTPError): the out-of-step rule reads a 503 5.7.0 as the
// refusal it is only with it, and a multi-line reply's repeated code is
// taken off its lines. Seen to fail first: EnhancedCode was zero and the
// code stayed in the text.
func TestOwnReaderParsesEnhancedCode(t *testing.T) {
	t.Run("end of message", func(t *testing.T) {
		addr := lmtpHop(t, false, 0, "250 2.0.0 a ok\r\n", "503 5.7.0 not for you\r\n", "550-5.1.1 no such\r\n550 5.1.1 mailbox\r\n")
		c := lmtpClient(t, addr, 5*time.Second)
		replies, err := lmtpSend(t, c, false)
		if err != nil || len(replies) != 3 {
			t.Fatalf("replies %+v, err %v", replies, err)
		}
		for k, want := range []struct {
			code  int
			ec    gosmtp.EnhancedCode
			reply string
		}{{503, gosmtp.EnhancedCode{5, 7, 0}, "503 5.7.0 not for you"}, {550, gosmtp.EnhancedCode{5, 1, 1}, "550 5.1.1 no such mailbox"}} {
			var se *gosmtp.SMTPError
			if !errors.As(replies[k+1].Err, &se) || se.Code != want.code || se.EnhancedCode != want.ec || Reply(se) != want.reply {
				t.Errorf("reply %d: %+v, want %d %v %q", k+1, replies[k+1].Err, want.code, want.ec, want.reply)
			}
		}
	})
	t.Run("DATA", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			io.WriteString(c, "220 mx.test ESMTP\r\n")
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
				case cmd == "DATA":
					io.WriteString(c, "503 5.7.0 not for you\r\n")
				default:
					io.WriteString(c, "250 ok\r\n")
				}
			}
		}()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone,
			CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("b@example.net", nil); err != nil {
			t.Fatal(err)
		}
		_, err = c.SendData([]byte("x\r\n"), 1)
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 0}) || Reply(err) != "503 5.7.0 not for you" {
			t.Errorf("DATA: %v, want 503 with 5.7.0 parsed", err)
		}
	})
}
