package smtp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// openingHop is a next hop that greets with greet and answers EHLO with
// ehlo (CRLF-separated lines), STARTTLS with starttls, HELO with helo;
// it sends every command it reads to got, and "EOF" when the client
// closes the connection.
func openingHop(t *testing.T, greet, ehlo, starttls, helo string) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 16)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte(greet))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				got <- "EOF"
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			got <- cmd
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				c.Write([]byte(ehlo))
			case cmd == "STARTTLS":
				c.Write([]byte(starttls))
			case strings.HasPrefix(cmd, "HELO"):
				c.Write([]byte(helo))
			case cmd == "QUIT":
				c.Write([]byte("221 2.0.0 bye\r\n"))
			default:
				c.Write([]byte("502 5.5.1 no\r\n"))
			}
		}
	}()
	return ln.Addr().String(), got
}

// SMTP-1 (rt29d F1; RFC 5321 §4.1.1.10, RFC 3207 §4.1): a client that
// ends an opening the server is still in step with — a policy that needs
// TLS meeting no STARTTLS (after EHLO or after a HELO fallback),
// STARTTLS refused, EHLO or HELO refused, a greeting refusing the
// session — says QUIT before it closes, not a bare close.
func TestSMTP1OpeningEndedInStepSaysQuit(t *testing.T) {
	for _, tc := range []struct {
		name, greet, ehlo, starttls, helo string
		policy                            TLSPolicy
		want                              error
	}{
		{"no STARTTLS", "220 hop ESMTP\r\n", "250-hop\r\n250 PIPELINING\r\n", "", "", TLSRequired, ErrSTARTTLSNotOffered},
		{"no STARTTLS verify", "220 hop ESMTP\r\n", "250-hop\r\n250 8BITMIME\r\n", "", "", TLSVerify, ErrSTARTTLSNotOffered},
		{"STARTTLS refused", "220 hop ESMTP\r\n", "250-hop\r\n250 STARTTLS\r\n", "454 4.7.0 TLS not available\r\n", "", TLSRequired, ErrSTARTTLSRefused},
		{"EHLO unknown, HELO", "220 hop ESMTP\r\n", "502 5.5.2 unknown\r\n", "", "250 hop\r\n", TLSRequired, ErrSTARTTLSNotOffered},
		{"EHLO refused", "220 hop ESMTP\r\n", "421 4.3.2 busy\r\n", "", "", TLSRequired, nil},
		{"HELO refused", "220 hop ESMTP\r\n", "502 5.5.2 unknown\r\n", "", "554 5.7.1 go away\r\n", TLSOpportunistic, nil},
		{"greeting refused", "554 5.7.1 no service\r\n", "", "", "", TLSOpportunistic, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, got := openingHop(t, tc.greet, tc.ehlo, tc.starttls, tc.helo)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", ServerName: "hop.test", TLS: tc.policy, CommandTimeout: 5 * time.Second})
			if err == nil {
				c.Close()
				t.Fatal("the opening succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			nc.Close()
			var cmds []string
			for cmd := range got {
				if cmd == "EOF" {
					break
				}
				cmds = append(cmds, cmd)
			}
			if len(cmds) == 0 || cmds[len(cmds)-1] != "QUIT" {
				t.Fatalf("commands %q: the opening ended without QUIT", cmds)
			}
		})
	}
}
