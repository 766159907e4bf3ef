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
)

// scriptedHop listens on loopback and answers one connection with
// script (script[0] is the greeting, script[i] answers the i-th command),
// then holds the connection open, saying nothing, until the client
// closes it or 30 s pass.
func scriptedHop(t *testing.T, script []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		for i, s := range script {
			if i > 0 {
				if _, err := br.ReadString('\n'); err != nil {
					return
				}
			}
			io.WriteString(c, s)
		}
		io.Copy(io.Discard, br) // hold: no reply, no close
	}()
	return ln.Addr().String()
}

// RFC 5321 §4.2.1: every line of a reply has its code. A continuation
// line followed by a line with another code (or none) is a malformed
// reply: net/textproto, which reads the greeting, the prelude's EHLO and
// every reply go-smtp waits for, takes such a line for more text and
// waits for a line with the first code — until the command timeout or
// the 1 MiB bound. The reply bound ends it at that line instead, and
// the error names the step (the opening's Stage, or the command of a
// transaction).
func TestMixedCodeReplyEndsAtOnce(t *testing.T) {
	ehlo := "250-hop.test\r\n250 8BITMIME\r\n"
	for _, tc := range []struct {
		name   string
		script []string
		tls    TLSPolicy
		mail   bool   // the mixed reply answers MAIL, after the prelude
		stage  string // the opening's step (Stage)
		names  string // what the error says it answered
	}{
		{"greeting", []string{"220-hop.test\r\n554 go away\r\n"}, TLSNone, false, "greeting", "greeting"},
		{"greeting, a line without a code", []string{"220-hop.test\r\nnot a reply line\r\n"}, TLSNone, false, "greeting", "greeting"},
		{"prelude EHLO", []string{"220 hop.test\r\n", "250-hop.test\r\n550 no\r\n"}, TLSOpportunistic, false, "reply to EHLO", "reply to EHLO"},
		{"go-smtp's EHLO", []string{"220 hop.test\r\n", "250-hop.test\r\n550 no\r\n"}, TLSNone, false, "reply to EHLO", "reply to EHLO"},
		{"go-smtp's MAIL", []string{"220 hop.test\r\n", ehlo, "250-ok\r\n550 no\r\n"}, TLSNone, true, "", "reply to MAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", scriptedHop(t, tc.script))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			// The command timeout is far beyond the test's: only the
			// malformed reply can end the session in time.
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				c, err := NewClient(ctx, nc, ClientOptions{LocalName: "hub.test", TLS: tc.tls, CommandTimeout: time.Hour})
				if tc.mail {
					if err != nil {
						done <- err
						return
					}
					err = c.Mail("a@example.org", nil)
					c.Close()
				} else if err == nil {
					c.Close()
					err = errors.New("the session opened")
				}
				done <- err
			}()
			var got error
			select {
			case got = <-done:
			case <-time.After(20 * time.Second):
				nc.Close()
				<-done
				t.Fatal("a reply with mixed codes held the session (waiting for the command timeout)")
			}
			if !errors.Is(got, ErrReplyMixedCodes) {
				t.Fatalf("error %v, want %v", got, ErrReplyMixedCodes)
			}
			if s := Stage(got); s != tc.stage {
				t.Fatalf("stage %q (%v), want %q", s, got, tc.stage)
			}
			if !strings.Contains(got.Error(), tc.names) {
				t.Fatalf("error %q does not name %q", got, tc.names)
			}
		})
	}
}

// A pipelined transaction's reply past the bound names the command it
// answered, as go-smtp's one-command path does (TestNextHopReplyFloodIsBounded).
func TestPipelinedReplyPastBoundNamesCommand(t *testing.T) {
	addr, wrote := floodingHop(t, []string{"220 hop.test\r\n", "250-hop.test\r\n250 PIPELINING\r\n"}, "250-aaaaaaaaaaaaaa\r\n")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone, CommandTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !c.CanPipeline() {
		t.Fatal("the hop's PIPELINING was not seen")
	}
	p := c.Pipeline("a@example.org", nil, []Recipient{{Addr: "b@example.test"}}, [][]byte{[]byte("Subject: x\r\n\r\nbody\r\n")}, false)
	c.Close()
	if !errors.Is(p.Err, ErrReplyTooLong) || !strings.Contains(p.Err.Error(), "reply to MAIL") {
		t.Fatalf("pipelined transaction: %v, want %v naming the reply to MAIL", p.Err, ErrReplyTooLong)
	}
	nc.Close()
	if n := <-wrote; n >= floodLimit {
		t.Fatalf("the next hop wrote all %d octets", n)
	}
}
