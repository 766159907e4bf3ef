package smtp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// README, transport table, command_timeout: "each reply of a pipelined
// envelope on its own too (MAIL, each RCPT, DATA, in shadow copies as in
// deliveries; never the group as a whole)". A shadow copy pushed in one
// trip (pushone.go: version 5, PIPELINING, CHUNKING: umbra's peers) still
// sets one deadline (data_timeout) for the group's write and all its
// replies: a peer answering each of 8 RCPTs in a quarter of
// command_timeout loses the copy once they together pass data_timeout.
// SMTP-1, SR-17.
func TestSMTP1PushOneTripEachReplyItsOwnCommandTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const perRcpt = 250 * time.Millisecond
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		c.Write([]byte("220 peer.example ESMTP\r\n"))
		r := bufio.NewReader(c)
		for range 200 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				c.Write([]byte("250-peer.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n"))
			case strings.HasPrefix(cmd, "RCPT"):
				time.Sleep(perRcpt)
				c.Write([]byte("250 2.1.5 ok\r\n"))
			case strings.HasPrefix(cmd, "BDAT"):
				f := strings.Fields(cmd)
				n, _ := strconv.Atoi(f[1])
				buf := make([]byte, n)
				if _, err := io_ReadFull(r, buf); err != nil {
					return
				}
				c.Write([]byte("250 2.0.0 copy kept\r\n"))
			case cmd == "QUIT":
				c.Write([]byte("221 2.0.0 bye\r\n"))
				return
			default:
				c.Write([]byte("250 2.0.0 ok\r\n"))
			}
		}
	}()
	nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "client.test", TLS: TLSNone,
		CommandTimeout: time.Second, DataTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ShadowDB, c.ShadowVersion = "peerdb", 5
	if !c.canPushOneTrip() {
		t.Fatal("no one-trip push")
	}
	m := &queue.Message{From: "a@example.org", OrgID: orgid.New()}
	for i := range 8 {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: fmt.Sprintf("r%d@elsewhere.org", i)})
	}
	start := time.Now()
	if err := c.PushCopy(m, []byte("Subject: c\r\n\r\nbody\r\n"), "dbA"); err != nil {
		t.Fatalf("PushCopy after %v: %v: every RCPT was answered in %v, within command_timeout (1s), "+
			"yet the group's replies shared one deadline", time.Since(start).Round(time.Millisecond), err, perRcpt)
	}
}

func io_ReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
