package smtp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// stallingHop listens on loopback and serves one connection: script[0]
// is the greeting, script[i] answers the i-th command; the last element
// is written without its line end finished and the hop then stalls
// (a tarpit that sends a reply a byte at a time and no more). It records
// every command line it received after the stall began.
func stallingHop(t *testing.T, script []string) (addr string, afterStall func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
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
			c.Write([]byte(s))
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, strings.TrimSpace(l))
			mu.Unlock()
		}
	}()
	return ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// SPEC W-7 (every step has a timeout): a reply whose line is not
// finished when its step's deadline passes is a timeout of that step,
// never a reply. A tarpit that had sent only "220 " of its greeting
// when the command timeout ran out was taken as greeted: umbra sent
// EHLO, waited a second command timeout and deferred with "reply to
// EHLO: short response" — a false reason at twice the timeout. Each
// case ends in a timeout naming the step that waited, with nothing sent
// after the unfinished reply, and the session is not reused.
func TestUnfinishedReplyIsATimeout(t *testing.T) {
	const greet, ehlo = "220 hop.test\r\n", "250-hop.test\r\n250 PIPELINING\r\n"
	cases := []struct {
		name   string
		script []string
		tls    TLSPolicy
		stage  string // the opening's step (Stage), "" after it
		cmd    string // the command whose reply stalls after the opening
	}{
		{"greeting", []string{"220 "}, TLSNone, "greeting", ""},
		{"greeting's code only", []string{"22"}, TLSNone, "greeting", ""},
		{"LMTP greeting", []string{"220 "}, TLSNone, "greeting", ""},
		{"EHLO reply", []string{greet, "250-hop.test\r\n250 "}, TLSOpportunistic, "reply to EHLO", ""},
		{"go-smtp's EHLO reply", []string{greet, "250-hop.test\r\n250 "}, TLSNone, "reply to EHLO", ""},
		{"STARTTLS reply", []string{greet, "250-hop.test\r\n250 STARTTLS\r\n", "220 go"}, TLSOpportunistic, "", ""},
		{"MAIL reply", []string{greet, ehlo, "250 o"}, TLSNone, "", "MAIL"},
		{"RCPT reply", []string{greet, ehlo, "250 ok\r\n", "25"}, TLSNone, "", "RCPT"},
		{"DATA reply", []string{greet, ehlo, "250 ok\r\n", "250 ok\r\n", "354 "}, TLSNone, "", "DATA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, after := stallingHop(t, tc.script)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			o := ClientOptions{LocalName: "hub.test", TLS: tc.tls, CommandTimeout: 300 * time.Millisecond,
				LMTP: strings.HasPrefix(tc.name, "LMTP")}
			c, err := NewClient(context.Background(), nc, o)
			if tc.cmd != "" {
				if err != nil {
					t.Fatalf("opening: %v", err)
				}
				err = c.Mail("a@example.org", nil)
				if err == nil && tc.cmd != "MAIL" {
					err = c.Rcpt("b@example.org", nil)
				}
				if err == nil && tc.cmd == "DATA" {
					var w interface{ Close() error }
					if w, err = c.Data(); err == nil {
						w.Close()
						t.Fatal("DATA answered by an unfinished 354")
					}
				}
				if c.Alive() {
					t.Error("a session whose reply was cut at its deadline is offered for reuse")
				}
				c.Close()
			} else if err == nil {
				c.Close()
				t.Fatal("the session opened on an unfinished reply")
			}
			var se *gosmtp.SMTPError
			if errors.As(err, &se) {
				t.Fatalf("an unfinished reply taken as the reply %d %q (%v)", se.Code, se.Message, err)
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("error %v, want the step's timeout", err)
			}
			if tc.cmd == "" && !errors.Is(err, ErrTLSUnavailable) {
				if got := Stage(err); got != tc.stage {
					t.Fatalf("stage %q (%v), want %q", got, err, tc.stage)
				}
			}
			nc.Close()
			time.Sleep(50 * time.Millisecond) // the hop reads what was sent before the close (no timing is asserted)
			for _, l := range after() {
				if l != "QUIT" {
					t.Fatalf("%q sent after the unfinished reply", l)
				}
			}
		})
	}
}
