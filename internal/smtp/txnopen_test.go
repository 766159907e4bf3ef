package smtp

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// SMTP-1: a session knows when a transaction may be open at the peer —
// from a MAIL taken until a reply to the end of the data or an RSET
// taken; a DATA refused leaves it open (RFC 5321 §4.1.1.4) — and such a
// session is not Alive (never reused) until Settle ends it with RSET
// (rt43-delivery F1: a reused session's next MAIL refused "503 nested
// MAIL command").
func TestTransactionOpenUntilEndedOrReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := bufio.NewReader(nc)
		io.WriteString(nc, "220 strict.test\r\n")
		open, refuse := false, false
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(l))
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				io.WriteString(nc, "250-strict.test\r\n250 8BITMIME\r\n")
			case strings.HasPrefix(cmd, "MAIL") && open:
				io.WriteString(nc, "503 5.5.1 Error: nested MAIL command\r\n")
			case strings.HasPrefix(cmd, "MAIL"):
				open = true
				io.WriteString(nc, "250 2.1.0 ok\r\n")
			case strings.HasPrefix(cmd, "RCPT"):
				refuse = strings.Contains(cmd, "REJECT@")
				io.WriteString(nc, "250 2.1.5 ok\r\n")
			case cmd == "DATA" && refuse:
				io.WriteString(nc, "554 5.7.1 Data command rejected\r\n")
			case cmd == "DATA":
				io.WriteString(nc, "354 go on\r\n")
				for l != ".\r\n" {
					if l, err = r.ReadString('\n'); err != nil {
						return
					}
				}
				open = false
				io.WriteString(nc, "250 2.0.0 ok\r\n")
			case cmd == "RSET":
				open = false
				io.WriteString(nc, "250 2.0.0 ok\r\n")
			default:
				io.WriteString(nc, "250 ok\r\n")
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.TransactionOpen() || !c.Alive() {
		t.Fatalf("fresh session: open %v, alive %v", c.TransactionOpen(), c.Alive())
	}
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("reject@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendDataParts([][]byte{[]byte("Subject: x\r\n\r\nhi\r\n")}, 1); err == nil || !strings.HasPrefix(Reply(err), "554") {
		t.Fatalf("DATA: %v, want its 554", err)
	}
	if !c.TransactionOpen() || c.Alive() {
		t.Fatalf("after a refused DATA: open %v, alive %v; want open and not alive", c.TransactionOpen(), c.Alive())
	}
	if !c.Settle() || c.TransactionOpen() || !c.Alive() {
		t.Fatalf("after Settle: open %v, alive %v", c.TransactionOpen(), c.Alive())
	}
	if err := c.Mail("b@example.org", nil); err != nil {
		t.Fatalf("MAIL after Settle: %v", err)
	}
	if err := c.Rcpt("r@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if replies, err := c.SendDataParts([][]byte{[]byte("Subject: y\r\n\r\nhi\r\n")}, 1); err != nil || len(replies) != 1 || replies[0].Err != nil {
		t.Fatalf("second message: %v %v", replies, err)
	}
	if c.TransactionOpen() || !c.Alive() {
		t.Fatalf("after a message taken: open %v, alive %v", c.TransactionOpen(), c.Alive())
	}
}
